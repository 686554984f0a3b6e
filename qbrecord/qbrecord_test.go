package qbrecord_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qbrecord"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
	"github.com/qualysbridge/qualysbridge/tqsync"
)

const (
	markerUser = "marker-user-42"
	markerPass = "Mk-secret pass/+=&1"
)

// secretForms are the forms a secret may travel in.
func secretForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)))
	}
	return out
}

// scanCassettes fails the test if a cassette holds a secret, a JWT or an
// unredacted token field.
func scanCassettes(t *testing.T, dir string, secrets []string) {
	t.Helper()
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.`)
	token := regexp.MustCompile(`"(access_token|refresh_token)"\s*:\s*"[^"\[]`)
	files, _ := filepath.Glob(filepath.Join(dir, "*"+qbrecord.Ext))
	if len(files) == 0 {
		t.Fatal("no cassette written")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		text := string(b)
		for _, s := range secretForms(secrets...) {
			if strings.Contains(text, s) {
				t.Errorf("%s holds a secret (%q)", filepath.Base(f), s)
			}
		}
		if jwt.MatchString(text) || token.MatchString(text) {
			t.Errorf("%s holds a token", filepath.Base(f))
		}
		if strings.Contains(text, "127.0.0.1") {
			t.Errorf("%s holds the real host", filepath.Base(f))
		}
	}
}

// The connector's engine recorded against the fakes, then replayed with
// the fakes gone and other credentials: the same CAR graph results.
func TestRecordThenReplayConnector(t *testing.T) {
	dir := t.TempDir()
	tenant := qualystest.Generate(3, 25, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3))
	qsrv := qualystest.NewServer(qualystest.WithTenant(tenant), qualystest.WithCredentials(markerUser, markerPass))
	qhost := strings.TrimPrefix(qsrv.URL, "http://")
	ghost := strings.TrimPrefix(qsrv.GatewayURL, "http://")
	run := func(mode qbrecord.Mode, user, pass string) map[string]int {
		qrec, err := qbrecord.New(filepath.Join(dir, "qualys"), mode, qbrecord.WithPlaceholder(qhost, "qualys.example:443"),
			qbrecord.WithPlaceholder(ghost, "gateway.example:443"), qbrecord.WithPlaceholder(markerUser, "apiuser"))
		if err != nil {
			t.Fatal(err)
		}
		csrv := cartest.NewServer()
		defer csrv.Close()
		qc, err := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(qsrv.GatewayURL),
			qualys.WithInsecureLoopback(), qualys.WithHTTPClient(qrec.Client()))
		if err != nil {
			t.Fatal(err)
		}
		cc, _ := car.NewClient(csrv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())
		now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		if _, err := carsync.Run(context.Background(), carsync.Config{Qualys: qc, CAR: cc, Source: car.Source{Key: "Qualys"}, PageSize: 10, Sequential: true,
			Now: func() time.Time { return now }}); err != nil {
			t.Fatalf("%v run: %v (misses %v)", mode, err, qrec.Misses())
		}
		if err := qrec.Stop(); err != nil {
			t.Fatal(err)
		}
		g := csrv.Graph("Qualys")
		out := map[string]int{}
		for coll, vs := range g.Vertices {
			out[coll] = len(vs)
		}
		for coll, es := range g.Edges {
			out[coll] = len(es)
		}
		return out
	}
	recorded := run(qbrecord.Record, markerUser, markerPass)
	qsrv.Close() // no network from here on
	replayed := run(qbrecord.Replay, "someone-else", "another-password")
	if diff := cmp.Diff(recorded, replayed); diff != "" || recorded["asset"] != 25 {
		t.Errorf("replayed graph differs (-recorded +replayed):\n%s", diff)
	}
	scanCassettes(t, dir, []string{markerPass, markerUser + ":" + markerPass})
}

// The ThreatQ operation recorded against both fakes (Qualys search list,
// ThreatQ login and writes), then replayed.
func TestRecordThenReplayOperation(t *testing.T) {
	dir := t.TempDir()
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(4, 30, qualystest.WithVulnerableTo("CVE-2019-17053", 0.4))),
		qualystest.WithCredentials(markerUser, markerPass))
	tsrv := threatqtest.NewServer()
	run := func(mode qbrecord.Mode) *tqsync.Summary {
		qrec, err := qbrecord.New(filepath.Join(dir, "qualys"), mode, qbrecord.WithPlaceholder(strings.TrimPrefix(qsrv.URL, "http://"), "qualys.example:443"))
		if err != nil {
			t.Fatal(err)
		}
		trec, err := qbrecord.New(filepath.Join(dir, "threatq"), mode, qbrecord.WithPlaceholder(strings.TrimPrefix(tsrv.URL, "http://"), "threatq.example:443"))
		if err != nil {
			t.Fatal(err)
		}
		qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(markerUser, markerPass), qualys.WithInsecureLoopback(), qualys.WithHTTPClient(qrec.Client()))
		tc, _ := threatq.NewClient(tsrv.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback(), threatq.WithHTTPClient(trec.Client()))
		sum, err := tqsync.Run(context.Background(), tqsync.Config{Qualys: qc, ThreatQ: tc, CVEs: []string{"CVE-2019-17053"},
			Toggles: tqsync.Toggles{AddAssets: true, AddDiscoveredAssets: true, AddTagsToCVEs: true}, Title: "recorded"})
		if err != nil {
			t.Fatalf("%v: %v (misses %v %v)", mode, err, qrec.Misses(), trec.Misses())
		}
		qrec.Stop()
		trec.Stop()
		sum.Duration, sum.DurationSeconds = 0, 0
		return sum
	}
	recorded := run(qbrecord.Record)
	qsrv.Close()
	tsrv.Close()
	replayed := run(qbrecord.Replay)
	if diff := cmp.Diff(recorded, replayed); diff != "" || recorded.Stored == 0 {
		t.Errorf("replayed summary differs (-recorded +replayed):\n%s", diff)
	}
	scanCassettes(t, dir, []string{markerPass, threatqtest.Password, markerUser + ":" + markerPass})
}

// A request the cassette has no answer for fails with an error naming it.
func TestMissingRecording(t *testing.T) {
	dir := t.TempDir()
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(3, 5)))
	user, pass := qsrv.Credentials()
	rec, _ := qbrecord.New(filepath.Join(dir, "c"), qbrecord.Record)
	qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithHTTPClient(rec.Client()))
	if _, err := qc.HostAssets.Count(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	rec.Stop()
	qsrv.Close()
	rec, err := qbrecord.New(filepath.Join(dir, "c"), qbrecord.Replay)
	if err != nil {
		t.Fatal(err)
	}
	qc, _ = qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithHTTPClient(rec.Client()), qualys.WithRetry(1, time.Second))
	if _, err := qc.HostAssets.Count(context.Background(), nil); err != nil {
		t.Fatalf("recorded call: %v", err)
	}
	var err2 error
	for _, e := range qc.Detections.List(context.Background(), &qualys.DetectionQuery{Severities: []int{5}}) {
		err2 = e
	}
	var nr *qbrecord.NoRecordingError
	if !errors.As(err2, &nr) || nr.Method != "POST" || !strings.Contains(nr.Path, "/fo/asset/host/vm/detection/") || !strings.Contains(nr.Body, "severities=5") {
		t.Errorf("err = %v", err2)
	}
	if len(rec.Misses()) != 1 {
		t.Errorf("misses %v", rec.Misses())
	}
}

// The user name is scrubbed where it is an identity (the Basic credential,
// a value that is the name whole), never inside other text: a DTD URL on a
// host named like the user replays as it was recorded.
func TestUserNameOnlyWhereItIsOne(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><!DOCTYPE X SYSTEM "https://qualysapi.qualystest.invalid/x.dtd"><X><LOGIN>qualystest</LOGIN></X>`)
	}))
	defer srv.Close()
	cassette := filepath.Join(t.TempDir(), "c")
	rec, err := qbrecord.New(cassette, qbrecord.Record)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	req.SetBasicAuth("qualystest", "a-password-1")
	resp, err := rec.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cassette + qbrecord.Ext)
	if !strings.Contains(string(b), "qualysapi.qualystest.invalid/x.dtd") {
		t.Errorf("the DTD URL was rewritten: %s", b)
	}
	if strings.Contains(string(b), "<LOGIN>qualystest</LOGIN>") || strings.Contains(string(b), "a-password-1") {
		t.Errorf("an identity or a secret reached the cassette: %s", b)
	}
}

// TestOptionsFail: an option given what it cannot use fails New with a
// *ConfigError naming it, as the clients' options do.
func TestOptionsFail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, c := range map[string]struct {
		mode qbrecord.Mode
		opts []qbrecord.Option
		want string
	}{
		"nil transport":        {qbrecord.Record, []qbrecord.Option{qbrecord.WithTransport(nil)}, "WithTransport"},
		"empty placeholder":    {qbrecord.Record, []qbrecord.Option{qbrecord.WithPlaceholder("qualys.acme.example", "")}, "WithPlaceholder"},
		"placeholder holds it": {qbrecord.Record, []qbrecord.Option{qbrecord.WithPlaceholder("acme", "acme.example")}, "WithPlaceholder"},
		"nil option":           {qbrecord.Record, []qbrecord.Option{nil}, "Option"},
		"unknown mode":         {qbrecord.Mode(7), nil, "mode"},
	} {
		_, err := qbrecord.New(filepath.Join(dir, "c"), c.mode, c.opts...)
		var ce *qbrecord.ConfigError
		if !errors.As(err, &ce) || ce.Option != c.want {
			t.Errorf("%s: err = %v, want a ConfigError for %s", name, err, c.want)
		}
	}
	// An empty real value and empty secrets are nothing to hide, not errors.
	rec, err := qbrecord.New(filepath.Join(dir, "ok"), qbrecord.Record, qbrecord.WithPlaceholder("", "x"), qbrecord.WithSecrets("", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Stop()
}
