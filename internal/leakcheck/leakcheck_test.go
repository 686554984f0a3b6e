package leakcheck

import "testing"

func TestExiting(t *testing.T) {
	done := `goroutine 381 [runnable]:
runtime.goexit1()
	/usr/local/go/src/runtime/proc.go:4475 +0xf0
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1772 +0x6
created by github.com/qualysbridge/qualysbridge/carsync_test.TestNoLeakOnCancelOrFailure.func10 in goroutine 392
	/tmp/wt/carsync/leak_test.go:68 +0x2aa`
	blocked := `goroutine 12 [chan send]:
github.com/qualysbridge/qualysbridge/carsync.(*stream).pages(0xc000)
	/src/carsync/stage_pages.go:40 +0x1
runtime.goexit({})
	/usr/local/go/src/runtime/asm_amd64.s:1772 +0x6
created by github.com/qualysbridge/qualysbridge/carsync.Run in goroutine 1
	/src/carsync/stream.go:10 +0x2`
	if !exiting(done) {
		t.Error("a goroutine in runtime.goexit1 is not seen as exiting")
	}
	if exiting(blocked) {
		t.Error("a goroutine blocked in the module's code is seen as exiting")
	}
}
