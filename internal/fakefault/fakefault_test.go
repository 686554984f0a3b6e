package fakefault

import (
	"strings"
	"testing"
)

func TestFire(t *testing.T) {
	for _, tt := range []struct {
		call, times int
		want        string
	}{
		{call: 2, want: "-x---"},
		{times: 2, want: "xx---"},
		{want: "xxxxx"},
		{call: 7, want: "-----"},
	} {
		var c Counter
		got := ""
		for range 5 {
			if c.Fire(tt.call, tt.times) {
				got += "x"
			} else {
				got += "-"
			}
		}
		if got != tt.want {
			t.Errorf("call %d times %d: %s, want %s", tt.call, tt.times, got, tt.want)
		}
		if n := strings.Count(tt.want, "x"); c.Fired() != n {
			t.Errorf("call %d times %d: Fired %d, want %d", tt.call, tt.times, c.Fired(), n)
		}
	}
}

// Every matching fault counts every matching request, including the ones
// an earlier fault fires on: three faults on calls 2, 3 and 4 fire on
// calls 2, 3 and 4.
func TestPickCountsEveryMatchingFault(t *testing.T) {
	type fault struct {
		name string
		call int
		c    Counter
	}
	faults := []*fault{{name: "a", call: 2}, {name: "b", call: 3}, {name: "c", call: 4}}
	got := ""
	for range 5 {
		f, ok := Pick(faults, func(f *fault) (*Counter, int, int, bool) { return &f.c, f.call, 0, true })
		if ok {
			got += f.name
		} else {
			got += "-"
		}
	}
	if got != "-abc-" {
		t.Errorf("fired %s, want -abc-", got)
	}
}
