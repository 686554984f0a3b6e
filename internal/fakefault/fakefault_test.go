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
