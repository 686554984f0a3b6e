package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// The exit-code contract: every failure class gives the code of IBM's CAR
// connector framework 3.0 (or ours, where the framework has none), and
// with -json one document says so on stdout: {"ok": false, "error",
// "exit_code"}.
func TestExitCodeContract(t *testing.T) {
	simple := func(code, text string) string {
		return "<SIMPLE_RETURN><RESPONSE><CODE>" + code + "</CODE><TEXT>" + text + "</TEXT></RESPONSE></SIMPLE_RETURN>"
	}
	cases := []struct {
		name  string
		setup func(w *world) []string // returns extra args
		ctx   func() context.Context
		code  int
		want  string
	}{
		{"unknown flag", func(w *world) []string { return []string{"-no_such_flag"} }, nil, exitUsage, ""},
		{"a word that is not a flag", func(w *world) []string { return []string{"stray", "-page_size", "5"} }, nil, exitUsage, "unexpected argument"},
		{"Qualys unreachable", func(w *world) []string { return []string{"-qualys_url", "https://127.0.0.1:1", "-max_retries", "0"} }, nil, exitQualysUnreachable, "transport error"},
		{"Qualys login refused", func(w *world) []string { w.env["QUALYS_PASSWORD"] = "wrong"; return nil }, nil, exitQualysLogin, "Authentication"},
		{"Qualys forbids", func(w *world) []string {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 403, Body: simple("2002", "forbidden")})
			return nil
		}, nil, exitQualysForbidden, "403"},
		{"Qualys refuses a parameter", func(w *world) []string {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 400, Body: simple("1905", "parameter ids has invalid value")})
			return nil
		}, nil, exitQualysParameter, "1905"},
		{"Qualys answer unreadable", func(w *world) []string {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, HTML: true, Status: 200, Times: 10})
			return []string{"-max_retries", "0"}
		}, nil, exitQualysData, "HTML"},
		{"Qualys fails otherwise", func(w *world) []string {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 500, Body: simple("999", "internal error"), Times: 10})
			return []string{"-max_retries", "0"}
		}, nil, exitDataSource, "999"},
		{"CAR not ready", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/databases", Status: 503, Body: `{"message":"starting"}`, Times: 20})
			return []string{"-max_retries", "0"}
		}, nil, exitRecoverable, "503"},
		{"CAR job failed, state reset", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/imports", Call: 3, FailJob: true})
			return nil
		}, nil, exitStateReset, "model state was reset"},
		{"CAR bracket job cancelled", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: `{"id":"x","status":"CANCELLED"}`})
			return nil
		}, nil, exitRecoverable, "(entering a full import) ended with status CANCELLED"},
		{"CAR bracket job with an empty status", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: `{"id":"x","status":""}`})
			return nil
		}, nil, exitRecoverable, "ended with an empty status"},
		{"CAR bracket job in ERROR", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: `{"id":"x","status":"ERROR","message":"disk full"}`})
			return nil
		}, nil, exitRecoverable, "ended with status ERROR: disk full"},
		{"CAR bracket job never ends", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/jobstatus", Status: 200, Body: `{"id":"x","status":"INPROGRESS"}`})
			return []string{"-job_deadline", "300ms"}
		}, nil, exitRecoverable, "is still in status INPROGRESS after"},
		{"CAR import job never ends", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/imports", StallJob: 1 << 20})
			return []string{"-job_deadline", "300ms"}
		}, nil, exitRecoverable, "deadline 300ms, -job_deadline"},
		{"lock held", func(w *world) []string {
			unlock, err := lock(w.dir, "Qualys")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
			return nil
		}, nil, exitLockHeld, "must not overlap"},
		{"max_run_time", func(w *world) []string {
			w.c.InjectFault(cartest.Fault{Route: "/imports", StallJob: 1 << 20})
			return []string{"-max_run_time", "300ms"}
		}, nil, exitRunTime, "-max_run_time"},
		{"SIGTERM", nil, func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&cli.Interrupted{Signal: syscall.SIGTERM})
			return ctx
		}, cli.ExitSIGTERM, "interrupted by SIGTERM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 3)
			var extra []string
			if tc.setup != nil {
				extra = tc.setup(w)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			var out, errb bytes.Buffer
			code := run(ctx, w.args(extra...), &out, &errb, func(k string) string { return w.env[k] })
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, want %d (stderr should say %q):\n%s", code, tc.code, tc.want, lastLines(errb.String(), 3))
			}
			if tc.name == "unknown flag" {
				return // the flag package's own message, before -json is read
			}
			var doc struct {
				OK       *bool  `json:"ok"`
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.OK == nil || *doc.OK || doc.ExitCode != tc.code || doc.Error == "" {
				t.Errorf("-json on failure printed %q (%v); want one document with ok false, the error and exit_code %d", out.String(), err, tc.code)
			}
		})
	}
}

// IBM's "-connection-test True" is read wherever it appears, and the flags
// after it too (they were ignored before).
func TestConnectionTestValueForm(t *testing.T) {
	w := newWorld(t, 3)
	args := append([]string{"-connection-test", "True"}, w.args()...)
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] })
	if code != exitOK || !strings.Contains(out.String(), `"car": "ok"`) || len(w.c.Imports()) != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), lastLines(errb.String(), 3))
	}
	w.env["CAR_PASSWORD"] = "wrong"
	out.Reset()
	if code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] }); code != exitUsage || !strings.Contains(out.String(), `"exit_code": 2`) {
		t.Errorf("refused CAR credentials: exit %d: %s", code, out.String())
	}
}

// IBM's CONNECTION_HOST is a bare host name: it means https://host.
func TestConnectionHostBare(t *testing.T) {
	if got := withScheme("qualysapi.qg3.apps.qualys.com"); got != "https://qualysapi.qg3.apps.qualys.com" {
		t.Errorf("withScheme = %q", got)
	}
	if got := withScheme("10.0.0.5:8443"); got != "https://10.0.0.5:8443" {
		t.Errorf("withScheme = %q", got)
	}
	if got := withScheme("https://x.example/"); got != "https://x.example/" {
		t.Errorf("withScheme kept %q", got)
	}
}

// IBM's argparse forms parse (-connection-test True, -incremental_update
// True), and a mistyped flag is named on the one line printed, with the
// nearest flag.
func TestIBMBooleansAndMistypedFlags(t *testing.T) {
	w := newWorld(t, 3)
	code, _, stderr := w.run(t, w.args("-connection-test", "True", "-incremental_update", "True")...)
	if code != exitOK {
		t.Errorf("-connection-test True -incremental_update True: exit %d: %s", code, lastLines(stderr, 3))
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), []string{"-usernmae", "x"}, &out, &errb, func(string) string { return "" })
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], "-usernmae") || !strings.Contains(lines[0], "did you mean -username?") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"-h"}, &out, &errb, func(string) string { return "" }); code != exitOK || !strings.Contains(errb.String(), "-max_retries") {
		t.Errorf("-h: exit %d, %d bytes", code, errb.Len())
	}
}
