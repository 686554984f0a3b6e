package cartest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func do(t *testing.T, srv *Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(DefaultAPIKey, DefaultPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestValidationMatchesTheSchemaRules(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	env := func(coll, objs string) string {
		return `{"source":{"_key":"S"},"report":{"_key":"1","timestamp":1},"` + coll + `":` + objs + `}`
	}
	cases := []struct {
		body, want string
	}{
		{env("asset", `[{"external_id":1,"name":"a"}]`), "must be string"},
		{env("asset", `[{"external_id":"1"}]`), "required property 'name'"},
		{env("asset", `[{"external_id":"1","name":"a","risk":11}]`), "<= 10"},
		{env("ipaddress", `[{"_key":"999.1.1.1"}]`), "pattern"},
		{env("macaddress", `[{"_key":"nope"}]`), "MAC"},
		{env("hostname", `[{"_key":"a?b","host_name":"a"}]`), "must not contain"},
		{env("geolocation", `[{"external_id":"x"}]`), "oneOf"},
		{env("asset_ipaddress", `[{"_from_external_id":"1"}]`), "required property '_to'"},
		{env("nosuch_thing", `[{}]`), "unknown collection"},
		{`{"source":{"_key":"has space"},"report":{"timestamp":1},"asset":[]}`, "/source/_key"},
		{`{"source":{"_key":"S"},"report":{"timestamp":"1"}}`, "/report/timestamp"},
	}
	for _, c := range cases {
		status, body := do(t, srv, "POST", "/imports", c.body)
		if status != 400 || !strings.Contains(body, "data_mal_formed") || !strings.Contains(body, c.want) {
			t.Errorf("%.70s: %d %s; want data_mal_formed with %q", c.body, status, body, c.want)
		}
	}
	// Keyed ends are accepted with or without their prefix.
	for _, to := range []string{"ipaddress/10.0.0.1", "10.0.0.1"} {
		if status, body := do(t, srv, "POST", "/imports", env("asset_ipaddress", `[{"_from_external_id":"1","_to":"`+to+`"}]`)); status != 200 {
			t.Errorf("edge to %s refused: %s", to, body)
		}
	}
}

func TestAuthAndFaults(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/databases", nil)
	req.Header.Set("Content-Type", "application/json")
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 401 {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}
	resp.Body.Close()
	srv.InjectFault(Fault{Route: "/databases", Call: 1, Status: 503, Body: `{"error":"down"}`})
	if status, _ := do(t, srv, "GET", "/databases", ""); status != 503 {
		t.Errorf("fault not applied: %d", status)
	}
	if status, _ := do(t, srv, "GET", "/databases", ""); status != 200 {
		t.Errorf("fault applied twice: %d", status)
	}
}

// The job of an edge whose vertex no finished job imported fails; once the
// vertex's job finished, the edge is accepted; WithDanglingEdges accepts it
// at once.
func TestVertexOrder(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	env := func(coll, objs string) string {
		return `{"source":{"_key":"S"},"report":{"_key":"1","timestamp":1},"` + coll + `":` + objs + `}`
	}
	status := func(body string) string {
		code, out := do(t, srv, "POST", "/imports", body)
		if code != 200 {
			t.Fatalf("import refused: %d %s", code, out)
		}
		var job struct{ ID string }
		json.Unmarshal([]byte(out), &job)
		_, st := do(t, srv, "GET", "/importstatus?ids="+job.ID, "")
		return st
	}
	edge := env("asset_ipaddress", `[{"_from_external_id":"1","_to":"ipaddress/10.0.0.1"}]`)
	if st := status(edge); !strings.Contains(st, "error_imports") || !strings.Contains(st, "not imported yet: asset/1") {
		t.Fatalf("edge before its vertices: %s; want the job failed naming asset/1", st)
	}
	status(env("asset", `[{"external_id":"1","name":"a"}]`))
	if st := status(edge); !strings.Contains(st, "ipaddress/10.0.0.1") {
		t.Fatalf("edge before its ipaddress: %s; want the job failed naming it", st)
	}
	status(env("ipaddress", `[{"_key":"10.0.0.1"}]`))
	if st := status(edge); !strings.Contains(st, `"complete_imports":[{`) {
		t.Fatalf("edge after both vertices: %s; want it complete", st)
	}
	loose := NewServer(WithDanglingEdges())
	defer loose.Close()
	_, out := do(t, loose, "POST", "/imports", edge)
	var job struct{ ID string }
	json.Unmarshal([]byte(out), &job)
	if _, st := do(t, loose, "GET", "/importstatus?ids="+job.ID, ""); !strings.Contains(st, `"complete_imports":[{`) {
		t.Fatalf("WithDanglingEdges: %s; want the edge accepted", st)
	}
}
