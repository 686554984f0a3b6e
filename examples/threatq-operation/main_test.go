package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

const cve = "CVE-2019-17053"

// world is a TLS fake Qualys and a TLS fake ThreatQ, reached through the
// program's real flags (with -verify_ssl=false for the fakes' certificates).
type world struct {
	q   *qualystest.Server
	tq  *threatqtest.Server
	env map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	q := qualystest.NewServer(qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(3, 80, qualystest.WithVulnerableTo(cve, 0.3))))
	t.Cleanup(q.Close)
	tq := threatqtest.NewServer(threatqtest.WithTLS())
	t.Cleanup(tq.Close)
	_, pass := q.Credentials()
	return &world{q: q, tq: tq, env: map[string]string{"QUALYS_PASSWORD": pass, "THREATQ_PASSWORD": threatqtest.Password}}
}

func (w *world) args(extra ...string) []string {
	u, _ := url.Parse(w.q.URL)
	user, _ := w.q.Credentials()
	base := []string{"-cve", cve, "-qualys_host", u.Hostname(), "-qualys_port", u.Port(), "-username", user, "-verify_ssl=false",
		"-threatq_url", w.tq.URL, "-threatq_client_id", threatqtest.ClientID, "-threatq_email", threatqtest.Email, "-json"}
	return append(base, extra...)
}

func (w *world) run(t *testing.T, args ...string) (int, []row, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] })
	var doc output
	if code == 0 && strings.Contains(strings.Join(args, " "), "-json") {
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out.String())
		}
		if doc.Summary == nil || doc.Hosts == nil {
			t.Fatalf("JSON output without hosts or summary:\n%s", out.String())
		}
	}
	return code, doc.Hosts, errb.String()
}

func TestSearchOnlyListsAndStoresNothing(t *testing.T) {
	w := newWorld(t)
	code, rows, stderr := w.run(t, w.args()...)
	if code != 0 || len(rows) == 0 {
		t.Fatalf("exit %d, %d rows\n%s", code, len(rows), stderr)
	}
	for _, r := range rows {
		if r.IP == "" || len(r.QIDs) == 0 || r.LastScan == "" || len(r.Severities) == 0 || len(r.Statuses) == 0 || len(r.Types) == 0 {
			t.Errorf("incomplete row %+v", r)
		}
	}
	if len(w.tq.Assets()) != 0 || len(w.q.SearchLists()) != 0 {
		t.Errorf("assets %d, lists left %v", len(w.tq.Assets()), w.q.SearchLists())
	}
}

func TestFiltersNarrowTheResult(t *testing.T) {
	w := newWorld(t)
	_, all, _ := w.run(t, w.args()...)
	count := func(extra ...string) int {
		code, rows, stderr := w.run(t, w.args(extra...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, stderr)
		}
		return len(rows)
	}
	if n := count("-ips", all[0].IP); n != 1 {
		t.Errorf("-ips: %d rows, want 1", n)
	}
	if n := count("-min_severity", "5"); n != 0 {
		t.Errorf("-min_severity 5: %d rows, want 0 (the CVE's QID has severity 4)", n)
	}
	if n := count("-found_after", "2099-01-01 00:00"); n != 0 {
		t.Errorf("-found_after in the future: %d rows", n)
	}
	if n := count("-asset_groups", "Data Center"); n == 0 || n >= len(all) {
		t.Errorf("-asset_groups by title: %d of %d rows", n, len(all))
	}
	if n := count("-asset_groups", "900"); n == 0 || n >= len(all) {
		t.Errorf("-asset_groups by id: %d of %d rows", n, len(all))
	}
	if len(w.q.SearchLists()) != 0 {
		t.Errorf("search lists left: %v", w.q.SearchLists())
	}
}

func TestTogglesAndIdempotence(t *testing.T) {
	w := newWorld(t)
	_, rows, _ := w.run(t, w.args()...)
	var confirmed, potential int
	for _, r := range rows {
		if r.Confirmed {
			confirmed++
		} else {
			potential++
		}
	}
	if confirmed == 0 || potential == 0 {
		t.Fatalf("tenant has %d confirmed and %d potential hosts; the test needs both", confirmed, potential)
	}
	code, _, stderr := w.run(t, w.args("-add_assets")...)
	if code != 0 || len(w.tq.Assets()) != confirmed {
		t.Fatalf("-add_assets: exit %d, %d assets, want %d confirmed\n%s", code, len(w.tq.Assets()), confirmed, stderr)
	}
	code, _, _ = w.run(t, w.args("-add_discovered_assets")...)
	if code != 0 || len(w.tq.Assets()) != confirmed+potential {
		t.Fatalf("-add_discovered_assets: %d assets, want %d", len(w.tq.Assets()), confirmed+potential)
	}
	before := w.tq.Assets()
	code, _, _ = w.run(t, w.args("-add_assets", "-add_discovered_assets", "-add_tags_to_cves")...)
	if code != 0 {
		t.Fatal("all toggles failed")
	}
	after := w.tq.Assets()
	if len(after) != len(before) {
		t.Fatalf("second run changed the number of assets: %d -> %d", len(before), len(after))
	}
	for i := range after {
		if len(after[i].Attributes) != len(before[i].Attributes) || len(after[i].Indicators) != 1 {
			t.Errorf("asset %s: attributes %d -> %d, relations %v", after[i].Value, len(before[i].Attributes), len(after[i].Attributes), after[i].Indicators)
		}
		seen := map[[2]string]bool{}
		for _, a := range after[i].Attributes {
			if seen[a] {
				t.Errorf("asset %s: duplicate attribute %v", after[i].Value, a)
			}
			seen[a] = true
		}
	}
	inds := w.tq.Indicators()
	if len(inds) != 1 || inds[0].Value != cve || len(inds[0].Tags) == 0 {
		t.Errorf("indicators %+v, want the CVE with its hosts' tags", inds)
	}
	if len(w.q.SearchLists()) != 0 {
		t.Errorf("search lists left: %v", w.q.SearchLists())
	}
}

func TestErrorsExitClearly(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"bad CVE", []string{"-cve", "CVE-19-1"}, nil, exitUsage, "invalid CVE"},
		{"no CVE", []string{"-username", "x"}, nil, exitUsage, "-cve is required"},
		{"bad date", append(w.args(), "-found_after", "yesterday"), nil, exitUsage, "YYYY-MM-DD HH:MM"},
		{"missing password", w.args(), map[string]string{"QUALYS_PASSWORD": ""}, exitUsage, "QUALYS_PASSWORD"},
		{"wrong Qualys password", w.args(), map[string]string{"QUALYS_PASSWORD": "wrong"}, exitQualys, "Bad Login"},
		{"wrong ThreatQ password", append(w.args(), "-add_assets"), map[string]string{"THREATQ_PASSWORD": "wrong"}, exitThreatQ, "login failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			saved := w.env
			w.env = map[string]string{}
			for k, v := range saved {
				w.env[k] = v
			}
			for k, v := range c.env {
				w.env[k] = v
			}
			code, _, stderr := w.run(t, c.args...)
			w.env = saved
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want %d; stderr %q should mention %q", code, c.code, stderr, c.want)
			}
		})
	}
	if len(w.q.SearchLists()) != 0 {
		t.Errorf("search lists left after errors: %v", w.q.SearchLists())
	}
}

func TestQualysFailureMidSearchLeavesNoList(t *testing.T) {
	w := newWorld(t)
	w.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 500, Body: "<html>oops</html>", Times: 20})
	code, _, stderr := w.run(t, w.args("-max_retries", "0")...)
	if code != exitQualys || len(w.q.SearchLists()) != 0 {
		t.Errorf("exit %d, lists %v\n%s", code, w.q.SearchLists(), stderr)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	w := newWorld(t)
	marker := "M4rker-Secret-Qualys-77"
	w.env["QUALYS_PASSWORD"] = marker
	var out, errb bytes.Buffer
	run(context.Background(), append(w.args(), "-d"), &out, &errb, func(k string) string { return w.env[k] })
	run(context.Background(), append(w.args(), "-d", "-password", marker+"2"), &out, &errb, func(k string) string { return w.env[k] })
	if strings.Contains(out.String()+errb.String(), marker) {
		t.Fatalf("secret marker printed:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "visible to other users") {
		t.Error("no warning about a secret on the command line")
	}
}

func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-cve", cve, "-add_assets", "-add_discovered_assets", "-add_tags_to_cves"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("demo exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"CVE-2019-17053", "search lists left behind: 0", "indicator", "asset", "toggles on: -add_assets, -add_discovered_assets, -add_tags_to_cves"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDemoKeepsTheUsersToggles: -demo with no toggle stores nothing, says
// so, and names the flag that would store each host.
func TestDemoKeepsTheUsersToggles(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-cve", cve}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("demo exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"toggles on: none", "not stored (-add_assets stores it)", "not stored (-add_discovered_assets stores it)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "   asset ") {
		t.Errorf("the demo stored assets with every toggle off:\n%s", out.String())
	}
	for _, want := range []string{"-add_assets stores them", "-add_discovered_assets stores them"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errb.String())
		}
	}
}

// TestNotStoredReport: with one toggle, the hosts the other would store are
// reported in the rows and the summary, with the flag.
func TestNotStoredReport(t *testing.T) {
	w := newWorld(t)
	code, rows, stderr := w.run(t, w.args("-add_assets")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	potential := 0
	for _, r := range rows {
		switch {
		case r.Confirmed && !r.Stored:
			t.Errorf("confirmed host %s not stored", r.IP)
		case !r.Confirmed && (r.Stored || r.NotStored != "-add_discovered_assets stores it"):
			t.Errorf("potential host %s: stored %v, not_stored %q", r.IP, r.Stored, r.NotStored)
		case !r.Confirmed:
			potential++
		}
	}
	if potential == 0 || !strings.Contains(stderr, fmt.Sprintf("%d hosts with only potential detections not stored: -add_discovered_assets stores them", potential)) {
		t.Errorf("%d potential hosts; summary:\n%s", potential, stderr)
	}
}

// TestIPsAndGroupsFlags: invalid -ips forms are usage errors quoting the
// value; a title made of digits is marked title:.
func TestIPsAndGroupsFlags(t *testing.T) {
	w := newWorld(t)
	for _, bad := range []string{"10.0.0.1abc", "10.0.0.1/99"} {
		code, _, stderr := w.run(t, w.args("-ips", bad)...)
		if code != exitUsage || !strings.Contains(stderr, bad) {
			t.Errorf("-ips %s: exit %d: %s", bad, code, stderr)
		}
	}
	code, _, stderr := w.run(t, w.args("-asset_groups", "title:900")...)
	if code != exitUsage || !strings.Contains(stderr, `"900"`) {
		t.Errorf("title:900 (no group has that title): exit %d: %s", code, stderr)
	}
	if n := w.q.Calls(qualystest.APISearchLists); n != 0 {
		t.Errorf("%d search list calls for bad arguments", n)
	}
}

// TestMissingClientIDNamesOnlyIt: with -threatq_url given, the message
// names what is missing and nothing else, in flag terms.
func TestMissingClientIDNamesOnlyIt(t *testing.T) {
	w := newWorld(t)
	var args []string
	for i, a := range w.args("-add_assets") {
		if a == "-threatq_client_id" || (i > 0 && w.args("-add_assets")[i-1] == "-threatq_client_id") {
			continue
		}
		args = append(args, a)
	}
	code, _, stderr := w.run(t, args...)
	if code != exitUsage || !strings.Contains(stderr, "-threatq_client_id") || strings.Contains(stderr, "-threatq_url") || strings.Contains(stderr, "With") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestRecordThenReplay: a run recorded with -record replays with -replay
// with both services gone.
func TestRecordThenReplay(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	code, rows, stderr := w.run(t, w.args("-add_assets", "-record", dir)...)
	if code != 0 || len(rows) == 0 {
		t.Fatalf("recording run: exit %d: %s", code, stderr)
	}
	w.q.Close()
	w.tq.Close()
	code, again, stderr := w.run(t, w.args("-add_assets", "-replay", dir)...)
	if code != 0 || len(again) != len(rows) {
		t.Fatalf("replayed run: exit %d, %d rows (recorded %d): %s", code, len(again), len(rows), stderr)
	}
	for _, f := range []string{"qualys.jsonl", "threatq.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{w.env["QUALYS_PASSWORD"], threatqtest.Password, "127.0.0.1"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", f, secret)
			}
		}
	}
}

// TestDemoJSON: -demo -json prints one JSON document on stdout.
func TestDemoJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-cve", cve, "-add_assets", "-json"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc output
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Summary == nil || len(doc.Hosts) == 0 {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, out.String())
	}
	if !strings.Contains(errb.String(), "== demo") {
		t.Error("the story is not on stderr")
	}
}

// TestHelpAndVersion: the -h every program shares (groups, environment,
// exit codes, every flag) and -version.
func TestHelpAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	help := errb.String()
	for _, want := range []string{"Usage: threatq-operation", "Environment:", "Exit codes:", "TLS:", "-ca_file", "-record", "-max_retries", "-version", "-qualys_versions"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"-version"}, &out, &errb, func(string) string { return "" }); code != 0 || !strings.HasPrefix(out.String(), "threatq-operation ") {
		t.Errorf("-version: exit %d, %q", code, out.String())
	}
}

// A host whose IP from Qualys holds a newline, a tab and an escape
// sequence forges no row or column in the table, reaches no terminal raw
// and is not stored as an Asset with that value (before: one host printed
// as two rows, and the text became the Asset's value).
func TestHostileIPInTable(t *testing.T) {
	tenant := qualystest.Generate(3, 40, qualystest.WithVulnerableTo(cve, 0.5))
	forged := "10.9.9.9\n" + cve + "\t10.6.6.6\x1b[31m"
	for i, h := range tenant.Detections {
		if i%2 == 0 { // every other host: the others are stored as usual
			h.IP, h.IPv6 = forged, ""
		}
	}
	q := qualystest.NewServer(qualystest.WithTLS(), qualystest.WithTenant(tenant))
	defer q.Close()
	tq := threatqtest.NewServer(threatqtest.WithTLS())
	defer tq.Close()
	_, pass := q.Credentials()
	w := &world{q: q, tq: tq, env: map[string]string{"QUALYS_PASSWORD": pass, "THREATQ_PASSWORD": threatqtest.Password}}
	args := slices.DeleteFunc(w.args("-add_assets", "-add_discovered_assets"), func(a string) bool { return a == "-json" })
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] }); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	table := out.String()
	if strings.ContainsAny(table, "\x1b") || strings.Contains(table, "\n"+cve+"\t") || strings.Contains(table, "\n10.6.6.6") {
		t.Errorf("the forged IP reached the table raw:\n%q", table)
	}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if strings.Contains(line, "10.6.6.6") && !strings.Contains(line, `invalid:10.9.9.9\nCVE`) {
			t.Errorf("forged line: %q", line)
		}
	}
	for _, a := range tq.Assets() {
		if strings.ContainsAny(a.Value, "\n\t\x1b") || strings.Contains(a.Value, "10.9.9.9") {
			t.Errorf("stored an Asset with the forged value %q", a.Value)
		}
	}
	if !strings.Contains(table, "no valid IP address") {
		t.Errorf("the hosts are not reported as not stored:\n%s", table)
	}
	if len(tq.Assets()) == 0 {
		t.Error("the hosts with a valid IP were not stored either")
	}
}

// A ThreatQ that accepts the connection and never answers no longer holds
// the operation for ever: -max_run_time ends it, with a message that says
// so, and the search list is deleted.
func TestRunTimeBound(t *testing.T) {
	w := newWorld(t)
	release := make(chan struct{})
	silent := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(release) // before Close, which waits for the handlers
	args := w.args("-add_assets", "-max_run_time", "300ms")
	for i, a := range args {
		if a == "-threatq_url" {
			args[i+1] = silent.URL
		}
	}
	code, _, stderr := w.run(t, args...)
	if code == 0 || !strings.Contains(stderr, "-max_run_time") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if lists := w.q.SearchLists(); len(lists) != 0 {
		t.Errorf("search lists left: %v", lists)
	}
}

// -demo runs with no argument (the guide's CVE); -qualys_url names the
// server as the other programs take it, and a mistyped flag is named on
// the last line with the nearest one, without the usage.
func TestProgramFriendliness(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo"}, &out, &errb, func(string) string { return "" }); code != exitOK {
		t.Fatalf("-demo alone: exit %d: %s", code, errb.String())
	}
	w := newWorld(t)
	args := w.args()
	i := slices.Index(args, "-qualys_host")
	args = slices.Delete(args, i, i+4) // -qualys_host H -qualys_port P
	u, _ := url.Parse(w.q.URL)
	args = append(args, "-qualys_url", "https://"+u.Host)
	if code, _, stderr := w.run(t, args...); code != exitOK {
		t.Errorf("-qualys_url: exit %d: %s", code, stderr)
	}
	errb.Reset()
	code := run(context.Background(), []string{"-usernmae", "x"}, &out, &errb, func(string) string { return "" })
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], "-usernmae") || !strings.Contains(lines[0], "did you mean -username?") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
