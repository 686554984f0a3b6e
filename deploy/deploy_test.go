package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// strict decodes a manifest into v, refusing a field v's type does not
// have (a misspelt or misplaced key is a manifest Kubernetes would prune or
// refuse) and a duplicate key.
func strict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func cronJob(t *testing.T) *batchv1.CronJob {
	var cj batchv1.CronJob
	strict(t, "kubernetes/cronjob.yaml", &cj)
	return &cj
}

func TestCronJob(t *testing.T) {
	cj := cronJob(t)
	if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" {
		t.Fatalf("%s %s", cj.APIVersion, cj.Kind)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q: two imports of one source at once must not happen", cj.Spec.ConcurrencyPolicy)
	}
	job := cj.Spec.JobTemplate.Spec
	pod := job.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: podFailurePolicy needs Never", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 1001 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the pod must run as the image's non-root user 1001")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the root file system should be read-only (the working directory is an emptyDir)")
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/work" }) {
		t.Error("no volume at /work, the image's working directory")
	}

	// Credentials come from the Secret, whose example has every key.
	var secret corev1.Secret
	strict(t, "kubernetes/secret.example.yaml", &secret)
	secrets := map[string]bool{"CONFIGURATION_AUTH_USERNAME": true, "CONFIGURATION_AUTH_PASSWORD": true, "CAR_SERVICE_KEY": true, "CAR_SERVICE_PASSWORD": true}
	for _, e := range c.Env {
		if !secrets[e.Name] {
			continue
		}
		delete(secrets, e.Name)
		ref := e.ValueFrom
		if e.Value != "" || ref == nil || ref.SecretKeyRef == nil {
			t.Errorf("%s is not read from a Secret", e.Name)
			continue
		}
		if ref.SecretKeyRef.Name != secret.Name {
			t.Errorf("%s reads Secret %s, the example is %s", e.Name, ref.SecretKeyRef.Name, secret.Name)
		}
		if _, ok := secret.StringData[ref.SecretKeyRef.Key]; !ok {
			t.Errorf("%s reads key %s, which the example Secret lacks", e.Name, ref.SecretKeyRef.Key)
		}
	}
	for name := range secrets {
		t.Errorf("%s is not set", name)
	}

	// The exit codes a retry cannot fix fail the Job; 10 and 51 are retried.
	p := job.PodFailurePolicy
	if p == nil {
		t.Fatal("no podFailurePolicy")
	}
	var failJob []int32
	for _, r := range p.Rules {
		if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil {
			if r.OnExitCodes.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn {
				t.Errorf("operator %s", r.OnExitCodes.Operator)
			}
			failJob = append(failJob, r.OnExitCodes.Values...)
		}
	}
	for _, code := range []int32{2, 20, 52, 53, 54, 124} {
		if !slices.Contains(failJob, code) {
			t.Errorf("exit code %d does not fail the Job", code)
		}
	}
	for _, code := range []int32{10, 51} {
		if slices.Contains(failJob, code) {
			t.Errorf("exit code %d (retried next run) fails the Job", code)
		}
	}
	// The deadline leaves the connector's -max_run_time room to stop by
	// itself and say what it saved.
	if i := slices.Index(c.Args, "-max_run_time"); i < 0 || i+1 >= len(c.Args) {
		t.Error("no -max_run_time in the args")
	} else if d := job.ActiveDeadlineSeconds; d == nil || *d <= 3*3600 || c.Args[i+1] != "3h" {
		t.Errorf("activeDeadlineSeconds %v and -max_run_time %s", d, c.Args[i+1])
	}
}

// connector is the Cloud Pak for Security Connector resource, whose type
// is not in k8s.io/api.
type connector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Type    string `json:"type"`
		Version string `json:"version"`
		Creator string `json:"creator"`
		Image   string `json:"image"`
	} `json:"spec"`
}

func TestConnectorResource(t *testing.T) {
	var c connector
	strict(t, "cp4s/connector.yaml", &c)
	if c.APIVersion != "connector.isc.ibm.com/v1" || c.Kind != "Connector" || c.Spec.Type != "CAR" || c.Name != "car-qualys" {
		t.Fatalf("%+v", c)
	}
	if !strings.Contains(c.Spec.Image, "/isc-car-connector-qualys:") {
		t.Errorf("image %s is not the one build.sh pushes", c.Spec.Image)
	}
	// build.sh rewrites the two lines by their indentation.
	b, _ := os.ReadFile("cp4s/connector.yaml")
	for _, re := range []string{`(?m)^  version: `, `(?m)^  image: `} {
		if n := len(regexp.MustCompile(re).FindAll(b, -1)); n != 1 {
			t.Errorf("%s matches %d lines, build.sh expects one", re, n)
		}
	}
}

// TestConnectionForm: config.json and lang_en.json are IBM's merged shape,
// and every field of the form has a label.
func TestConnectionForm(t *testing.T) {
	read := func(name string) map[string]map[string]json.RawMessage {
		b, err := os.ReadFile(filepath.Join("cp4s/configurations", name))
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		var v map[string]map[string]json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(v) != 2 || v["connection"] == nil || v["configuration"] == nil {
			t.Fatalf("%s: top level must be connection and configuration", name)
		}
		return v
	}
	cfg, lang := read("config.json"), read("lang_en.json")
	type field struct {
		Type  string `json:"type"`
		Regex string `json:"regex"`
	}
	label := func(section, path string) bool {
		parts := strings.Split(path, ".")
		raw := lang[section][parts[0]]
		for _, p := range parts[1:] {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) != nil {
				return false
			}
			raw = m[p]
		}
		var l struct{ Label string }
		return json.Unmarshal(raw, &l) == nil && l.Label != ""
	}
	for _, name := range []string{"host", "help"} {
		if !label("connection", name) {
			t.Errorf("connection.%s has no label", name)
		}
	}
	var host field
	if err := json.Unmarshal(cfg["connection"]["host"], &host); err != nil || host.Type != "text" {
		t.Fatalf("connection.host: %v %+v", err, host)
	}
	re := regexp.MustCompile(host.Regex)
	for _, h := range []string{"qualysapi.qualys.com", "qualysapi.qg2.apps.qualys.com", "10.0.0.5", "https://qualysapi.qualys.eu"} {
		if !re.MatchString(h) {
			t.Errorf("the form refuses host %q, which the connector takes", h)
		}
	}
	var auth map[string]json.RawMessage
	if err := json.Unmarshal(cfg["configuration"]["auth"], &auth); err != nil {
		t.Fatal(err)
	}
	want := []string{"password", "qualys_gateway", "type", "username"}
	var got []string
	for k := range auth {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("auth fields %v, want %v (the variables CONFIGURATION_AUTH_* the connector reads)", got, want)
	}
	for _, k := range want {
		if k != "type" && !label("configuration", "auth."+k) {
			t.Errorf("configuration.auth.%s has no label", k)
		}
	}
	var pw field
	_ = json.Unmarshal(auth["password"], &pw)
	if pw.Type != "password" {
		t.Error("the password field is not of type password")
	}
}

// TestDockerfile: the image builds through build-static.sh, ends on a
// minimal base and runs as 1001.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user, entry string
	buildScript := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = strings.Join(f[1:], " ")
		case "RUN":
			if strings.Contains(line, "deploy/build-static.sh") {
				buildScript = true
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("not multi-stage: %v", froms)
	}
	if last := froms[len(froms)-1]; strings.Contains(last, "golang") || !strings.Contains(last, "distroless/static") {
		t.Errorf("final base %s is not minimal", last)
	}
	if !buildScript {
		t.Error("the build stage does not run deploy/build-static.sh")
	}
	if !strings.HasPrefix(user, "1001") {
		t.Errorf("USER %s, want 1001 as IBM's image", user)
	}
	if !strings.Contains(entry, "car-connector") {
		t.Errorf("ENTRYPOINT %s", entry)
	}
}

// TestCronJobRunsTheConnector builds the connector with build-static.sh
// (as the image's build stage does) and runs it with the CronJob's args
// and environment, the Secret's values being the fakes' credentials and
// the two URLs the fakes': it imports, and -version prints the stamp.
func TestCronJobRunsTheConnector(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the connector")
	}
	bin := t.TempDir()
	build := exec.Command("./build-static.sh", "-o", bin, "car-connector")
	build.Env = append(os.Environ(), "VERSION=v0.0.0-deploytest")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-static.sh: %v\n%s", err, out)
	}
	exe := filepath.Join(bin, "car-connector")
	out, err := exec.Command(exe, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "car-connector v0.0.0-deploytest ") {
		t.Fatalf("-version: %v %q", err, out)
	}

	q := qualystest.NewServer(qualystest.WithTLS(), qualystest.WithTenant(qualystest.Generate(3, 12)))
	defer q.Close()
	c := cartest.NewServer(cartest.WithTLS(), cartest.WithJobPolls(0))
	defer c.Close()
	user, pass := q.Credentials()
	values := map[string]string{"qualys-username": user, "qualys-password": pass, "car-api-key": cartest.DefaultAPIKey, "car-password": cartest.DefaultPassword}

	cj := cronJob(t)
	ctr := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	env := []string{"PATH=" + os.Getenv("PATH")}
	source := ""
	for _, e := range ctr.Env {
		v := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			v = values[e.ValueFrom.SecretKeyRef.Key]
		case e.Name == "CONNECTION_HOST":
			v = strings.TrimPrefix(q.URL, "https://") // the bare host form
		case e.Name == "CONFIGURATION_AUTH_QUALYS_GATEWAY":
			v = q.GatewayURL
		case e.Name == "CAR_SERVICE_URL":
			v = c.URL
		case e.Name == "CONNECTION_NAME":
			source = v
		}
		env = append(env, e.Name+"="+v)
	}
	args := append(slices.Clone(ctr.Args), "-verify_ssl=false", "-working_dir", t.TempDir())
	cmd := exec.CommandContext(context.Background(), exe, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the CronJob's command: %v\n%s", err, stderr.String())
	}
	if source == "" || c.ModelState(source) == "" {
		t.Fatalf("no import for source %q\n%s", source, stderr.String())
	}
}
