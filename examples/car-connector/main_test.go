package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/examples/internal/cli"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// world is a TLS fake Qualys and a TLS fake CAR, reached through the
// program's real flags (with -verify_ssl=false for the fakes' certificates).
type world struct {
	q   *qualystest.Server
	c   *cartest.Server
	dir string
	env map[string]string
}

func newWorld(t *testing.T, hosts int) *world {
	t.Helper()
	q := qualystest.NewServer(qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(9, hosts)))
	t.Cleanup(q.Close)
	c := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(0))
	t.Cleanup(c.Close)
	_, pass := q.Credentials()
	return &world{q: q, c: c, dir: t.TempDir(), env: map[string]string{"QUALYS_PASSWORD": pass, "CAR_API_KEY": cartest.DefaultAPIKey, "CAR_PASSWORD": cartest.DefaultPassword}}
}

func (w *world) args(extra ...string) []string {
	user, _ := w.q.Credentials()
	base := []string{"-qualys_url", w.q.URL, "-qualys_gateway", w.q.GatewayURL, "-username", user, "-url", w.c.URL,
		"-source", "Qualys", "-verify_ssl=false", "-working_dir", w.dir, "-json"}
	return append(base, extra...)
}

func (w *world) run(t *testing.T, args ...string) (int, *carsync.Summary, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return w.env[k] })
	var sum carsync.Summary
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
		}
	}
	return code, &sum, errb.String()
}

func TestInitialThenIncrementalThroughFlags(t *testing.T) {
	w := newWorld(t, 80)
	code, sum, stderr := w.run(t, w.args()...)
	if code != 0 || sum.Mode != carsync.Full || sum.Hosts != 80 {
		t.Fatalf("first run: exit %d %+v\n%s", code, sum, stderr)
	}
	code, sum, stderr = w.run(t, w.args("-incremental_update")...)
	if code != 0 || sum.Mode != carsync.Incremental {
		t.Fatalf("second run: exit %d %+v\n%s", code, sum, stderr)
	}
	if !strings.Contains(stderr, "run summary") || !strings.Contains(stderr, "qualys_calls=") {
		t.Errorf("no summary line in the log:\n%s", stderr)
	}
}

func TestOldCommandLineWithPasswordTwice(t *testing.T) {
	w := newWorld(t, 5)
	_, qpass := w.q.Credentials()
	w.env = map[string]string{"CAR_API_KEY": cartest.DefaultAPIKey}
	// The old README: -password <qualys secret> ... -api_key <key> -password <car password>
	code, sum, stderr := w.run(t, w.args("-password", qpass, "-password", cartest.DefaultPassword)...)
	if code != 0 || sum.Hosts != 5 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "visible to other users") {
		t.Error("no warning about secrets on the command line")
	}
}

func TestConfigFileIsRead(t *testing.T) {
	w := newWorld(t, 5)
	user, _ := w.q.Credentials()
	cfg := map[string]any{"source": "QualysFromFile", "qualys_url": w.q.URL, "qualys_gateway": w.q.GatewayURL, "username": user, "url": w.c.URL,
		"parameter": map[string]any{"pagination": map[string]any{"page_size": 2}}}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(w.dir, "qualys_config.json"), b, 0o600)
	code, sum, stderr := w.run(t, "-working_dir", w.dir, "-verify_ssl=false", "-json")
	if code != 0 || sum.Hosts != 5 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if w.c.ModelState("QualysFromFile") == "" {
		t.Error("the config file's source was not used")
	}
	if n := sum.QualysCalls["/qps/rest/2.0/search/am/hostasset"]; n != 3 {
		t.Errorf("%d host asset calls, want 3 pages of the file's page size 2", n)
	}
}

func TestLockPreventsOverlap(t *testing.T) {
	w := newWorld(t, 3)
	lockFile := lockPath(w.dir, "Qualys")
	unlock, err := lock(w.dir, "Qualys") // another run holds it
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := w.run(t, w.args()...)
	if code != exitLockHeld || !strings.Contains(stderr, "must not overlap") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	unlock()
	os.WriteFile(lockFile, []byte("999999999"), 0o600) // a dead process held it
	if code, _, stderr := w.run(t, w.args()...); code != 0 {
		t.Fatalf("stale lock not taken over: exit %d %s", code, stderr)
	}
	// The run released the lock.
	unlock, err = lock(w.dir, "Qualys")
	if err != nil {
		t.Fatalf("lock not released after the run: %v", err)
	}
	unlock()
}

// TestLockRace: 100 starts racing on a stale lock file; exactly one gets
// the lock while it holds it.
func TestLockRace(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(lockPath(dir, "Qualys"), []byte("999999999"), 0o600)
	var wg sync.WaitGroup
	var winners atomic.Int32
	start := make(chan struct{})
	release := make(chan struct{})
	attempted := make(chan struct{}, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			unlock, err := lock(dir, "Qualys")
			attempted <- struct{}{}
			if err != nil {
				if !errors.Is(err, errLockHeld) {
					t.Error(err)
				}
				return
			}
			winners.Add(1)
			<-release
			unlock()
		}()
	}
	close(start)
	// Every start has tried while a winner (if any) still holds the lock.
	for range 100 {
		<-attempted
	}
	close(release)
	wg.Wait()
	if n := winners.Load(); n != 1 {
		t.Errorf("%d runs got the lock, want 1", n)
	}
}

// TestRunDeadline: a run blocked on CAR past -max_run_time ends with a
// clear error and releases the lock.
func TestRunDeadline(t *testing.T) {
	w := newWorld(t, 3)
	w.c.InjectFault(cartest.Fault{Route: "/imports", StallJob: 1 << 20})
	// The stalled job never completes: only the run bound ends the run.
	code, _, stderr := w.run(t, w.args("-max_run_time", "500ms")...)
	if code == 0 || !strings.Contains(stderr, "-max_run_time") {
		t.Fatalf("exit %d: %s", code, lastLines(stderr, 3))
	}
	unlock, err := lock(w.dir, "Qualys")
	if err != nil {
		t.Fatalf("lock held after the deadline: %v", err)
	}
	unlock()
}

// TestFlagsWinOverConfigFile: the command line names the Qualys server; a
// configuration file naming another platform and gateway cannot redirect
// the credentials, and the URLs in use are logged.
func TestFlagsWinOverConfigFile(t *testing.T) {
	w := newWorld(t, 3)
	os.WriteFile(filepath.Join(w.dir, "qualys_config.json"), []byte(`{"platform":"EU1","qualys_gateway":"https://gateway.evil.example"}`), 0o600)
	// The command line names the API server but no gateway.
	var args []string
	for i, a := range w.args("-d") {
		if a == "-qualys_gateway" || (i > 0 && w.args()[i-1] == "-qualys_gateway") {
			continue
		}
		args = append(args, a)
	}
	code, _, stderr := w.run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, lastLines(stderr, 5))
	}
	if strings.Contains(stderr, "evil.example") {
		t.Errorf("the file's gateway was used:\n%s", stderr)
	}
	for _, want := range []string{"qualys_api=" + w.q.URL, "car=" + w.c.URL, "are ignored"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestBadConfigurationExitCodes(t *testing.T) {
	w := newWorld(t, 3)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"CAR URL without /api/car/v2", append(w.args(), "-url", "https://cp4s.example.com/api/car"), nil, exitUsage, "/api/car/v2"},
		{"missing Qualys password", w.args(), map[string]string{"QUALYS_PASSWORD": ""}, exitUsage, "QUALYS_PASSWORD"},
		{"missing CAR credentials", w.args(), map[string]string{"CAR_PASSWORD": ""}, exitUsage, "CAR_API_KEY and CAR_PASSWORD"},
		{"unknown platform", append(w.args(), "-platform", "MARS1"), nil, exitUsage, "unknown platform"},
		{"wrong Qualys password", w.args(), map[string]string{"QUALYS_PASSWORD": "nope"}, exitQualysLogin, "Authentication failed"},
		{"wrong CAR password", w.args(), map[string]string{"CAR_PASSWORD": "nope"}, exitUsage, "401"},
		{"unreachable Qualys", append(w.args(), "-qualys_url", "https://127.0.0.1:1", "-max_retries", "0"), nil, exitQualysUnreachable, "transport error"},
		{"incremental without state", append(w.args(), "-incremental_update"), nil, exitUsage, "not possible"},
		{"contradicting modes", append(w.args(), "-incremental_update", "-full"), nil, exitUsage, "contradict"},
		{"page size too large", append(w.args(), "-page_size", "5000"), nil, exitUsage, "-page_size must be 1-1000"},
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
				t.Errorf("exit %d, want %d; stderr should mention %q:\n%s", code, c.code, c.want, lastLines(stderr, 3))
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestSecretsNeverPrinted(t *testing.T) {
	w := newWorld(t, 10)
	markers := []string{"Qm4rker-secret-1", "Cm4rker-secret-2", "Km4rker-secret-3", "Tm4rker-secret-4"}
	var all bytes.Buffer
	for _, env := range []map[string]string{
		{"QUALYS_PASSWORD": markers[0], "CAR_API_KEY": markers[2], "CAR_PASSWORD": markers[1]},
		{"QUALYS_PASSWORD": markers[0], "CAR_TOKEN": markers[3]},
	} {
		var out, errb bytes.Buffer
		run(context.Background(), append(w.args(), "-d"), &out, &errb, func(k string) string { return env[k] })
		all.Write(out.Bytes())
		all.Write(errb.Bytes())
	}
	var out, errb bytes.Buffer
	run(context.Background(), append(w.args(), "-d", "-password", markers[0], "-car_password", markers[1]), &out, &errb, func(string) string { return "" })
	all.Write(out.Bytes())
	all.Write(errb.Bytes())
	for _, m := range markers {
		if strings.Contains(all.String(), m) {
			t.Errorf("secret %s printed", m)
		}
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-qualys_url", "-qualys_gateway", "-username", "-password", "-url", "-api_key", "-car_password", "-car_token",
		"-source", "-incremental_update", "-d", "-working_dir", "-verify_ssl", "-demo", "-demo_hosts", "QUALYS_PASSWORD", "Exit codes"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("-h does not mention %s", f)
		}
	}
}

func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-demo_hosts", "60"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("demo exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"initial import (full)", "incremental import (incremental)", "CAR now holds", "asset_ipaddress", "inactive"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestIBMCommandLine: IBM's framework-3.0 flags run the connector end to
// end, and the report says which program wrote it.
func TestIBMCommandLine(t *testing.T) {
	w := newWorld(t, 20)
	user, pass := w.q.Credentials()
	args := []string{"-car-service-url", w.c.URL, "-car-service-key", cartest.DefaultAPIKey, "-car-service-password", cartest.DefaultPassword,
		"-source", "QualysIBM", "-name", "Qualys", "-version", "1.0.0", "-d", "-export-data-dir", "/tmp/car_temp_export_data", "-keep-export-data-dir",
		"-export-data-page-size", "2000", "-qualys_url", w.q.URL, "-qualys_gateway", w.q.GatewayURL, "-username", user, "-password", pass,
		"-verify_ssl=false", "-working_dir", w.dir, "-json"}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, lastLines(errb.String(), 5))
	}
	if w.c.ModelState("QualysIBM") == "" {
		t.Error("no model state saved")
	}
	if !strings.Contains(errb.String(), "IBM framework flags ignored") || strings.Count(errb.String(), "IBM framework flags ignored") != 1 {
		t.Errorf("the ignored flags were not warned about once:\n%s", lastLines(errb.String(), 10))
	}
	var report string
	for _, r := range w.c.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/imports") {
			var env struct {
				Report struct {
					Description string `json:"description"`
				} `json:"report"`
				Source struct {
					Description string `json:"description"`
					ProductLink string `json:"product_link"`
				} `json:"source"`
			}
			json.Unmarshal(r.Body, &env)
			report = env.Report.Description
			if env.Source.ProductLink == "" || !strings.Contains(env.Source.Description, "qualysbridge car-connector") {
				t.Errorf("source %+v", env.Source)
			}
		}
	}
	if !strings.Contains(report, "Qualys (qualysbridge car-connector) 1.0.0") {
		t.Errorf("report description %q", report)
	}
}

// TestIBMEnvironment: the framework's environment variables alone run it.
func TestIBMEnvironment(t *testing.T) {
	w := newWorld(t, 10)
	user, pass := w.q.Credentials()
	env := map[string]string{"CAR_SERVICE_URL": w.c.URL, "CAR_SERVICE_KEY": cartest.DefaultAPIKey, "CAR_SERVICE_PASSWORD": cartest.DefaultPassword,
		"CONNECTION_NAME": "QualysEnv", "CONNECTION_HOST": w.q.URL, "CONFIGURATION_AUTH_QUALYS_GATEWAY": w.q.GatewayURL,
		"CONFIGURATION_AUTH_USERNAME": user, "CONFIGURATION_AUTH_PASSWORD": pass, "DEBUG": "true", "CONNECTOR_VERSION": "2.0"}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-verify_ssl=false", "-working_dir", w.dir}, &out, &errb, func(k string) string { return env[k] })
	if code != 0 || w.c.ModelState("QualysEnv") == "" {
		t.Fatalf("exit %d: %s", code, lastLines(errb.String(), 5))
	}
	if !strings.Contains(errb.String(), "level=DEBUG") {
		t.Error("DEBUG=true did not turn debug logging on")
	}
	// A flag wins over its variable.
	code = run(context.Background(), []string{"-verify_ssl=false", "-working_dir", w.dir, "-source", "QualysFlag"}, &out, &errb, func(k string) string { return env[k] })
	if code != 0 || w.c.ModelState("QualysFlag") == "" {
		t.Fatalf("flag over variable: exit %d", code)
	}
}

// TestConnectionTest checks both ends and imports nothing.
func TestConnectionTest(t *testing.T) {
	w := newWorld(t, 5)
	var out, errb bytes.Buffer
	var text []string
	for _, a := range w.args("-connection-test") {
		if a != "-json" {
			text = append(text, a)
		}
	}
	code := run(context.Background(), text, &out, &errb, func(k string) string { return w.env[k] })
	if code != 0 || !strings.Contains(out.String(), "Qualys ok") || !strings.Contains(out.String(), "CAR ok") || len(w.c.Imports()) != 0 {
		t.Fatalf("exit %d, %d imports: %s %s", code, len(w.c.Imports()), out.String(), lastLines(errb.String(), 3))
	}
	out.Reset()
	var doc map[string]any
	if code := run(context.Background(), append(w.args(), "-connection-test"), &out, &errb, func(k string) string { return w.env[k] }); code != 0 || json.Unmarshal(out.Bytes(), &doc) != nil || doc["ok"] != true {
		t.Errorf("-connection-test -json: exit %d: %s", code, out.String())
	}
	w.env["CAR_PASSWORD"] = "wrong"
	out.Reset()
	if code := run(context.Background(), append(w.args(), "-connection-test"), &out, &errb, func(k string) string { return w.env[k] }); code != exitUsage {
		t.Errorf("wrong CAR password: exit %d: %s", code, out.String())
	}
	w.env["QUALYS_PASSWORD"] = "wrong"
	out.Reset()
	if code := run(context.Background(), append(w.args(), "-connection-test"), &out, &errb, func(k string) string { return w.env[k] }); code != exitQualysLogin {
		t.Errorf("wrong Qualys password: exit %d: %s", code, out.String())
	}
}

// TestCAFile: a private CA is trusted through -ca_file (or the variable)
// with verification on; without it, the error says what to do.
func TestCAFile(t *testing.T) {
	w := newWorld(t, 5)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.q.Certificate().Raw}), 0o600)
	var args []string
	for _, a := range w.args() {
		if a != "-verify_ssl=false" {
			args = append(args, a)
		}
	}
	code, _, stderr := w.run(t, args...)
	if code == 0 || !strings.Contains(stderr, "-ca_file") {
		t.Fatalf("untrusted certificate: exit %d, advice missing:\n%s", code, lastLines(stderr, 3))
	}
	if code, _, stderr := w.run(t, append(args, "-ca_file", caFile)...); code != 0 {
		t.Fatalf("with -ca_file: exit %d: %s", code, lastLines(stderr, 3))
	}
	w.env[cli.CAFileEnv] = caFile
	if code, _, stderr := w.run(t, args...); code != 0 {
		t.Fatalf("with %s: exit %d: %s", cli.CAFileEnv, code, lastLines(stderr, 3))
	}
}

// TestConfigFileKeys: an unknown key is a warning naming it; a wrong type
// names the key and the type it needs.
func TestConfigFileKeys(t *testing.T) {
	w := newWorld(t, 3)
	path := filepath.Join(w.dir, "qualys_config.json")
	os.WriteFile(path, []byte(`{"source":"Qualys","qualys_gatway":"https://gateway.example"}`), 0o600)
	code, _, stderr := w.run(t, w.args()...)
	if code != 0 || !strings.Contains(stderr, "unknown key") || !strings.Contains(stderr, "qualys_gatway") {
		t.Errorf("unknown key: exit %d: %s", code, lastLines(stderr, 5))
	}
	os.WriteFile(path, []byte(`{"parameter":{"pagination":{"page_size":"1000"}}}`), 0o600)
	code, _, stderr = w.run(t, w.args()...)
	if code != exitUsage || !strings.Contains(stderr, `"parameter.pagination.page_size" must be a number, not a JSON string`) {
		t.Errorf("wrong type: exit %d: %s", code, lastLines(stderr, 3))
	}
}

// TestRecordThenReplay: a run recorded with -record replays with -replay
// against no server at all, and the recording holds no secret.
func TestRecordThenReplay(t *testing.T) {
	w := newWorld(t, 8)
	dir := t.TempDir()
	code, sum, stderr := w.run(t, w.args("-record", dir)...)
	if code != 0 {
		t.Fatalf("recording run: exit %d: %s", code, lastLines(stderr, 3))
	}
	args := w.args("-replay", dir)
	w.q.Close()
	w.c.Close()
	code, again, stderr := w.run(t, args...)
	if code != 0 || again.Hosts != sum.Hosts {
		t.Fatalf("replayed run: exit %d, %d hosts (recorded %d): %s", code, again.Hosts, sum.Hosts, lastLines(stderr, 5))
	}
	_, pass := w.q.Credentials()
	for _, f := range []string{"qualys.jsonl", "car.jsonl"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{pass, cartest.DefaultPassword, "127.0.0.1"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", f, secret)
			}
		}
	}
}

// TestDemoJSON: -demo -json prints one JSON document on stdout, modes as
// words, durations in seconds, no zero times; the story goes to stderr.
func TestDemoJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-demo", "-demo_hosts", "30", "-json"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out.String())
	}
	initial, _ := doc["initial"].(map[string]any)
	incremental, _ := doc["incremental"].(map[string]any)
	if initial["mode"] != "full" || incremental["mode"] != "incremental" {
		t.Errorf("modes %v, %v", initial["mode"], incremental["mode"])
	}
	if _, ok := initial["since"]; ok {
		t.Error("a full run's absent since is printed")
	}
	if _, ok := initial["duration_seconds"].(float64); !ok {
		t.Error("no duration_seconds")
	}
	if !strings.Contains(errb.String(), "== tenant changed") {
		t.Error("the story is not on stderr")
	}
	for k := range initial {
		if strings.ToLower(k) != k {
			t.Errorf("field %q is not snake_case", k)
		}
	}
	if code := run(context.Background(), []string{"-demo", "-page_size", "5000"}, &out, &errb, func(string) string { return "" }); code != exitUsage {
		t.Errorf("-demo with an invalid -page_size: exit %d", code)
	}
}

// TestMessagesNameFlags: a retired API version, set with -qualys_versions,
// fails with a message naming the flag, never the library's option.
func TestMessagesNameFlags(t *testing.T) {
	w := newWorld(t, 3)
	code, _, stderr := w.run(t, w.args("-qualys_versions", "detections=4.0")...)
	if code != exitQualysParameter || !strings.Contains(stderr, "-qualys_versions detections=VERSION") || strings.Contains(stderr, "WithEndpointVersion") {
		t.Errorf("exit %d: %s", code, lastLines(stderr, 2))
	}
	if code, _, stderr := w.run(t, w.args("-qualys_versions", "detection=5.0")...); code != exitUsage || !strings.Contains(stderr, "detection=5.0") {
		t.Errorf("unknown endpoint name: exit %d: %s", code, lastLines(stderr, 2))
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
	for _, want := range []string{"Usage: car-connector", "Environment:", "Exit codes:", "TLS:", "-ca_file", "-record", "-max_retries", "-version", "-qualys_versions"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"-version"}, &out, &errb, func(string) string { return "" }); code != 0 || !strings.HasPrefix(out.String(), "car-connector ") {
		t.Errorf("-version: exit %d, %q", code, out.String())
	}
}

// -sequential (-overlap=false, its older opposite) and -detection_split
// reach carsync.Config with the library's polarity, an
// overlapped run and a sequential one import every host, and a negative
// split is refused.
func TestOverlapFlag(t *testing.T) {
	w := newWorld(t, 30)
	for _, tc := range []struct {
		args  []string
		want  bool
		split int
	}{{w.args(), true, 0}, {w.args("-overlap=false"), false, 0}, {w.args("-sequential"), false, 0}, {w.args("-sequential=false"), true, 0}, {w.args("-detection_split", "1"), true, 1}} {
		var o options
		fs := newFlags(&o, io.Discard)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o.explicit = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
		cfg, err := configure(&o, func(k string) string { return w.env[k] }, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Sequential == tc.want || cfg.DetectionSplit != tc.split {
			t.Errorf("%v: Sequential %v, DetectionSplit %d; want overlap %v, %d", tc.args[len(tc.args)-1], cfg.Sequential, cfg.DetectionSplit, tc.want, tc.split)
		}
	}
	for arg, want := range map[string]carsync.RiskScores{"qualys": carsync.QualysScores, "severity": carsync.SeverityScores} {
		var o options
		fs := newFlags(&o, io.Discard)
		if err := fs.Parse(w.args("-risk_scores", arg)); err != nil {
			t.Fatal(err)
		}
		o.explicit = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { o.explicit[f.Name] = true })
		cfg, err := configure(&o, func(k string) string { return w.env[k] }, slog.New(slog.DiscardHandler))
		if err != nil || cfg.RiskScores != want {
			t.Errorf("-risk_scores %s: %v, %v", arg, cfg.RiskScores, err)
		}
	}
	if code, _, stderr := w.run(t, w.args("-risk_scores", "cvss")...); code != exitUsage || !strings.Contains(stderr, "want qualys or severity") {
		t.Errorf("-risk_scores cvss: exit %d\n%s", code, lastLines(stderr, 3))
	}
	if code, _, stderr := w.run(t, w.args("-sequential", "-overlap")...); code != exitUsage || !strings.Contains(stderr, "contradict") {
		t.Errorf("-sequential -overlap: exit %d\n%s", code, lastLines(stderr, 3))
	}
	if code, _, stderr := w.run(t, w.args("-detection_split", "-2")...); code != exitUsage || !strings.Contains(stderr, "-detection_split must be") {
		t.Errorf("-detection_split -2: exit %d\n%s", code, lastLines(stderr, 3))
	}
	if code, sum, stderr := w.run(t, w.args("-overlap=false")...); code != 0 || sum.Hosts != 30 {
		t.Fatalf("-overlap=false run: exit %d, %d hosts\n%s", code, sum.Hosts, lastLines(stderr, 5))
	}
	if code, sum, stderr := w.run(t, w.args("-full")...); code != 0 || sum.Hosts != 30 {
		t.Fatalf("overlapped full run: exit %d, %d hosts\n%s", code, sum.Hosts, lastLines(stderr, 5))
	}
}

// TestInvalidSourceTouchesNothing: a source CAR would refuse is refused
// before the working directory, the lock or any call (exit 2), and nothing
// is created.
func TestInvalidSourceTouchesNothing(t *testing.T) {
	w := newWorld(t, 3)
	dir := filepath.Join(t.TempDir(), "work")
	args := append(w.args(), "-working_dir", dir, "-source", "../../Qualys EU/1")
	code, _, stderr := w.run(t, args...)
	if code != exitUsage || !strings.Contains(stderr, "is not a CAR source id") {
		t.Fatalf("exit %d, want 2 naming the source:\n%s", code, lastLines(stderr, 3))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the working directory was created (%v)", err)
	}
	if n := len(w.c.Requests()) + w.q.TotalCalls(); n != 0 {
		t.Errorf("%d requests were made", n)
	}
}
