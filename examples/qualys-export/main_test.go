package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
)

func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %v: %.100s", err, sc.Text())
		}
		recs = append(recs, m)
	}
	return recs
}

func TestDemoExports(t *testing.T) {
	for typ, min := range map[string]int{"hostassets": 50, "hosts": 40, "detections": 40, "applications": 50, "kb": 40} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"-demo", "-type", typ}, &out, &errb, func(string) string { return "" })
		recs := lines(t, out.String())
		if code != 0 || len(recs) < min || !strings.Contains(errb.String(), typ+" records") {
			t.Errorf("%s: exit %d, %d records\n%s", typ, code, len(recs), errb.String())
		}
		if typ == "hosts" {
			// Every host with its scores.
			for _, r := range recs {
				if _, ok := r["trurisk"]; !ok || r["asset_criticality"] == nil || r["trurisk_factors"] == nil {
					t.Fatalf("hosts: a record without its scores: %v", r)
				}
			}
		}
	}
}

func TestFileExport(t *testing.T) {
	var out, errb bytes.Buffer
	path, _ := filepath.Abs("../../testdata/qualys/detections_indented.xml")
	code := run(context.Background(), []string{"-file", path}, &out, &errb, func(string) string { return "" })
	recs := lines(t, out.String())
	if code != 0 || len(recs) != 2 || recs[0]["id"] != float64(4100001) {
		t.Fatalf("exit %d, %d records\n%s", code, len(recs), errb.String())
	}
	bad := filepath.Join(t.TempDir(), "cut.xml")
	b, _ := os.ReadFile(path)
	os.WriteFile(bad, b[:bytes.Index(b, []byte("<ID>4100002"))+10], 0o600)
	out.Reset()
	errb.Reset()
	code = run(context.Background(), []string{"-file", bad}, &out, &errb, func(string) string { return "" })
	if code != exitQualys || !strings.Contains(errb.String(), "resume with id_min=") {
		t.Errorf("truncated file: exit %d\n%s", code, errb.String())
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-type", "nope"}, {"-since", "yesterday"}, {"-qids", "x"}, {"-type", "kb", "-file", "f.xml"}, {"-type", "kb"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb, func(string) string { return "" }); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, errb.String())
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	marker := "Xm4rker-secret-9"
	var out, errb bytes.Buffer
	run(context.Background(), []string{"-qualys_url", "https://127.0.0.1:1", "-username", "u", "-password", marker, "-d", "-max_retries", "0"}, &out, &errb, func(string) string { return "" })
	run(context.Background(), []string{"-qualys_url", "https://127.0.0.1:1", "-username", "u", "-d", "-max_retries", "0"}, &out, &errb, func(k string) string {
		if k == "QUALYS_PASSWORD" {
			return marker
		}
		return ""
	})
	if strings.Contains(out.String()+errb.String(), marker) {
		t.Fatal("secret printed")
	}
	if !strings.Contains(errb.String(), "QUALYS_PASSWORD instead") {
		t.Error("no warning about the password on the command line")
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
	for _, want := range []string{"Usage: qualys-export", "Environment:", "Exit codes:", "TLS:", "-ca_file", "-record", "-max_retries", "-version", "-qualys_versions"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"-version"}, &out, &errb, func(string) string { return "" }); code != 0 || !strings.HasPrefix(out.String(), "qualys-export ") {
		t.Errorf("-version: exit %d, %q", code, out.String())
	}
}

// TestJSONLinesShape: every record is snake_case, with absent values and
// times left out.
func TestJSONLinesShape(t *testing.T) {
	for _, typ := range []string{"hostassets", "hosts", "detections", "applications", "kb"} {
		var out, errb bytes.Buffer
		run(context.Background(), []string{"-demo", "-type", typ}, &out, &errb, func(string) string { return "" })
		if strings.Contains(out.String(), "0001-01-01") {
			t.Errorf("%s: a zero time is printed", typ)
		}
		var check func(v any)
		check = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					if strings.ToLower(k) != k || strings.Contains(k, " ") {
						t.Errorf("%s: key %q is not snake_case", typ, k)
					}
					check(val)
				}
			case []any:
				for _, val := range x {
					check(val)
				}
			}
		}
		for _, r := range lines(t, out.String()) {
			check(r)
		}
	}
}

// A proxy that echoes the password in its error page, HTML-escaped, as
// numeric entities or JSON-escaped, does not get it printed: before
// redact.ReplaceEncoded, the escaped forms went through.
func TestEscapedSecretNeverPrinted(t *testing.T) {
	const pass = `p<a&ss>"w/1Q`
	echo := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&#34;").Replace(pass) + " " +
		"&#112;&#60;&#97;&#38;&#115;&#115;&#62;&#34;&#119;&#47;&#49;&#81;" + ` {"p":"p\u003ca\u0026ss\u003e\"w\/1Q"}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>Bad gateway</h1><p>upstream refused login with password "+echo+"</p></body></html>")
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	run(context.Background(), []string{"-qualys_url", srv.URL, "-username", "u", "-d", "-max_retries", "0", "-verify_ssl=false"}, &out, &errb, func(k string) string {
		if k == "QUALYS_PASSWORD" {
			return pass
		}
		return ""
	})
	printed := out.String() + errb.String()
	for _, form := range []string{pass, "p&lt;a&amp;ss", "&#112;&#60;&#97;", `p\u003ca`, "ss&gt;"} {
		if strings.Contains(printed, form) {
			t.Errorf("printed the password as %q:\n%s", form, printed)
		}
	}
	if !strings.Contains(printed, "502") {
		t.Errorf("the failure is not reported:\n%s", printed)
	}
}

// Each failure class through run(): usage, a stray word, Qualys, an
// interruption.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-demo", "stray", "-type", "kb"}, exitUsage, "unexpected argument"},
		{[]string{"-type", "nope"}, exitUsage, "-type"},
		{[]string{"-qualys_url", "https://127.0.0.1:1", "-username", "u", "-password", "p", "-max_retries", "0"}, exitQualys, "transport error"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb, func(string) string { return "" })
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d; stderr should say %q:\n%s", tc.args, code, tc.code, tc.want, errb.String())
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&cli.Interrupted{Signal: os.Interrupt})
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"-demo", "-type", "detections"}, &out, &errb, func(string) string { return "" }); code != cli.ExitSIGINT || !strings.Contains(errb.String(), "interrupted by SIGINT") {
		t.Errorf("interrupted: exit %d:\n%s", code, errb.String())
	}
}
