// Package qbrecordtest opens qbrecord cassettes from Go tests. It is the
// only part of qbrecord that imports the testing package, so that
// programs which record and replay (the examples' -record and -replay)
// do not link it.
package qbrecordtest

import (
	"testing"

	"github.com/qualysbridge/qualysbridge/qbrecord"
)

// ForTest opens the cassette name for a test: it replays unless the test
// runs with QBRECORD=record (qbrecord.RecordEnv); a request with no
// recording fails the test; and the cassette is closed (and written, when
// recording) when the test ends.
func ForTest(t testing.TB, name string, opts ...qbrecord.Option) *qbrecord.Recorder {
	t.Helper()
	r, err := qbrecord.New(name, qbrecord.ModeFromEnv(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
		for _, e := range r.Misses() {
			t.Error(e)
		}
	})
	return r
}
