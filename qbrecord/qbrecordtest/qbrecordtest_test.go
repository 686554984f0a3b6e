package qbrecordtest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qualysbridge/qualysbridge/qbrecord"
	"github.com/qualysbridge/qualysbridge/qbrecord/qbrecordtest"
)

// recordingTB is a testing.TB that collects what ForTest reports and runs
// its cleanups on demand, so that a test can look at them.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprint(args...))
}
func (r *recordingTB) Fatal(args ...any) { r.Error(args...); panic("Fatal") }
func (r *recordingTB) Cleanup(f func())  { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// ForTest records with QBRECORD=record, replays without it (no network:
// the server is gone), and fails the test for a request it has no
// recording of.
func TestForTest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	cassette := filepath.Join(t.TempDir(), "tenant")

	t.Setenv(qbrecord.RecordEnv, "record")
	rec := &recordingTB{TB: t}
	r := qbrecordtest.ForTest(rec, cassette)
	if body, err := get(t, r.Client(), srv.URL+"/one"); err != nil || body != "answer to /one" {
		t.Fatalf("recording: %q, %v", body, err)
	}
	rec.finish()
	if len(rec.errors) > 0 {
		t.Fatalf("recording reported %v", rec.errors)
	}
	srv.Close()

	t.Setenv(qbrecord.RecordEnv, "")
	play := &recordingTB{TB: t}
	r = qbrecordtest.ForTest(play, cassette)
	if body, err := get(t, r.Client(), srv.URL+"/one"); err != nil || body != "answer to /one" {
		t.Fatalf("replay: %q, %v", body, err)
	}
	if _, err := get(t, r.Client(), srv.URL+"/two"); err == nil {
		t.Error("a request with no recording got an answer")
	}
	play.finish()
	if len(play.errors) != 1 || !strings.Contains(play.errors[0], "/two") {
		t.Errorf("replay reported %q, want one error naming /two", play.errors)
	}
}

// A missing cassette names the path and how to record it.
func TestMissingCassetteSaysHowToRecord(t *testing.T) {
	t.Setenv(qbrecord.RecordEnv, "")
	_, err := qbrecord.New(filepath.Join(t.TempDir(), "x"), qbrecord.Replay)
	if err == nil || !strings.Contains(err.Error(), "QBRECORD=record") || !strings.Contains(err.Error(), "x.jsonl") {
		t.Errorf("err = %v, want the path and QBRECORD=record", err)
	}
}
