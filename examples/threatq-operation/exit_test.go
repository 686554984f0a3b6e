package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// Each failure class through run(): the exit code, and with -json one
// document {"ok": false, "error", "exit_code"} on stdout.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		name  string
		setup func(w *world) []string
		ctx   func() context.Context
		code  int
		want  string
	}{
		{"a word that is not a flag", func(w *world) []string { return []string{"stray", "-add_assets"} }, nil, exitUsage, "unexpected argument"},
		{"bad severity", func(w *world) []string { return []string{"-min_severity", "9"} }, nil, exitUsage, "-min_severity"},
		{"Qualys login refused", func(w *world) []string { w.env["QUALYS_PASSWORD"] = "wrong"; return nil }, nil, exitQualys, "check -username and QUALYS_PASSWORD"},
		{"Qualys fails", func(w *world) []string {
			w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 400,
				Body: "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>"})
			return nil
		}, nil, exitQualys, "999"},
		{"ThreatQ fails", func(w *world) []string {
			w.tq.InjectFault(threatqtest.Fault{Method: "POST", Route: "asset", Status: 400, Body: `{"errors":["refused"]}`})
			return []string{"-add_assets", "-add_discovered_assets"}
		}, nil, exitThreatQ, "refused"},
		{"SIGTERM", nil, func() context.Context {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(&cli.Interrupted{Signal: syscall.SIGTERM})
			return ctx
		}, cli.ExitSIGTERM, "interrupted by SIGTERM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
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
				t.Fatalf("exit %d, want %d; stderr should say %q:\n%s", code, tc.code, tc.want, errb.String())
			}
			var doc struct {
				OK       *bool  `json:"ok"`
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.OK == nil || *doc.OK || doc.ExitCode != tc.code || doc.Error == "" {
				t.Errorf("-json on failure printed %q (%v)", out.String(), err)
			}
			if lists := w.q.SearchLists(); len(lists) != 0 {
				t.Errorf("search lists left: %v", lists)
			}
		})
	}
}
