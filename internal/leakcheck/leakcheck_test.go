package leakcheck

import (
	"strings"
	"testing"
	"time"
)

// A goroutine whose function has returned (runtime.goexit frames alone)
// is runnable: settle waits for the scheduler to remove it. One blocked in
// the module's code, runtime.goexit below it, is reported.
func TestExitingIsNotBlocked(t *testing.T) {
	done := `goroutine 381 [runnable]:
runtime.goexit1()
	/usr/local/go/src/runtime/proc.go:4475 +0xf0
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1772 +0x6
created by github.com/qualysbridge/qualysbridge/carsync_test.TestNoLeakOnCancelOrFailure.func10 in goroutine 392
	/tmp/wt/carsync/leak_test.go:68 +0x2aa`
	stuck := `goroutine 12 [chan send]:
github.com/qualysbridge/qualysbridge/carsync.(*stream).pages(0xc000)
	/src/carsync/stage_pages.go:40 +0x1
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1772 +0x6
created by github.com/qualysbridge/qualysbridge/carsync.Run in goroutine 1
	/src/carsync/stream.go:10 +0x2`
	if blocked(done) {
		t.Error("a goroutine in runtime.goexit1 is seen as blocked")
	}
	if !blocked(stuck) {
		t.Error("a goroutine blocked in the module's code is not seen as blocked")
	}
	looks := 0
	gone := func() []string {
		if looks++; looks < 3 {
			return []string{done}
		}
		return nil
	}
	if got := settle(gone, time.Hour); len(got) != 0 {
		t.Errorf("settle reported an exiting goroutine: %q", got)
	}
	if got := settle(func() []string { return []string{stuck} }, time.Hour); len(got) != 1 {
		t.Errorf("settle = %q, want the blocked goroutine", got)
	}
}

// settle looks again while the goroutines found are runnable (leaving),
// and reports a blocked one at once.
func TestSettle(t *testing.T) {
	looks := 0
	leaving := func() []string {
		looks++
		if looks < 4 {
			return []string{"goroutine 7 [runnable]:\ngithub.com/qualysbridge/qualysbridge/carsync.prefetch.func3()"}
		}
		return nil
	}
	if got := settle(leaving, time.Hour); len(got) != 0 || looks != 4 {
		t.Errorf("settle = %q after %d looks, want nothing after 4", got, looks)
	}
	looks = 0
	stuck := func() []string {
		looks++
		return []string{"goroutine 9 [chan receive, 2 minutes]:\ngithub.com/qualysbridge/qualysbridge/carsync.(*pipeline).joinStage()"}
	}
	if got := settle(stuck, time.Hour); len(got) != 1 || looks != 1 {
		t.Errorf("settle of a blocked goroutine = %q after %d looks, want it reported at the first", got, looks)
	}
	running := func() []string { return []string{"goroutine 3 [running]:\nmain.spin()"} }
	if got := settle(running, 0); len(got) != 1 {
		t.Errorf("settle of a goroutine still running at the deadline = %q, want it reported", got)
	}
}

func TestBlocked(t *testing.T) {
	for stack, want := range map[string]bool{
		"goroutine 1 [runnable]:\nf()":             false,
		"goroutine 1 [running]:\nf()":              false,
		"goroutine 1 [syscall]:\nf()":              false,
		"goroutine 1 [select]:\nf()":               true,
		"goroutine 1 [chan send, 5 minutes]:\nf()": true,
		"goroutine 1 [IO wait]:\nf()":              true,
		"goroutine 1 [sync.Mutex.Lock]:\nf()":      true,
		"goroutine 1 [select (no cases)]:\nf()":    true,
		"not a stack":                              true,
	} {
		if got := blocked(stack); got != want {
			t.Errorf("blocked(%q) = %v, want %v", stack, got, want)
		}
	}
}

// A goroutine blocked in the module's code is found; once released and
// gone, it is not.
func TestRunningFindsBlocked(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-release
	}()
	found := false
	for _, s := range running() {
		if strings.Contains(s, "leakcheck.TestRunningFindsBlocked") {
			found = true
		}
	}
	if !found {
		t.Error("a blocked goroutine of the module is not found")
	}
	close(release)
	<-done
	if got := settle(running, Settle); len(got) != 0 {
		t.Errorf("after release: %q", got)
	}
}
