package threatq

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReconcileCurrent: a wanted value's row is kept once, a duplicate or
// old row is updated in place to a missing value, what is left is added
// or deleted.
func TestReconcileCurrent(t *testing.T) {
	t.Parallel()
	rows := []attrRow{{1, "Active"}, {2, "Active"}, {3, "New"}, {4, "Fixed"}}
	puts, adds, deletes := reconcileCurrent(rows, []string{"Active", "Re-Opened"})
	if d := cmp.Diff([]attrRow{{2, "Re-Opened"}}, puts, cmp.AllowUnexported(attrRow{})); d != "" {
		t.Errorf("puts (-want +got):\n%s", d)
	}
	if len(adds) != 0 || !cmp.Equal(deletes, []int64{3, 4}) {
		t.Errorf("adds %v, deletes %v; want none and [3 4]", adds, deletes)
	}
	puts, adds, deletes = reconcileCurrent([]attrRow{{7, "x"}}, []string{"a", "b"})
	if !cmp.Equal(puts, []attrRow{{7, "a"}}, cmp.AllowUnexported(attrRow{})) || !cmp.Equal(adds, []string{"b"}) || len(deletes) != 0 {
		t.Errorf("puts %v, adds %v, deletes %v", puts, adds, deletes)
	}
}
