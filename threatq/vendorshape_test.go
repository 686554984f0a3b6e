package threatq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/qualysbridge/qualysbridge/threatq"
	"github.com/qualysbridge/qualysbridge/threatq/threatqtest"
)

// Attributes are POSTed one object a request, as ThreatQ's SDK and every
// public client send them (a list was sent before, which only the fake
// took); the fake now refuses a list.
func TestAttributesPostedOneByOne(t *testing.T) {
	srv, c, _ := setup(t, []threatqtest.Option{threatqtest.WithoutConsume()})
	writeTwice(t, srv, c)
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/attributes") {
			n++
			if b := bytes.TrimSpace(r.Body); len(b) == 0 || b[0] != '{' {
				t.Errorf("attributes POSTed as %s, want one object", b)
			}
		}
	}
	if n == 0 {
		t.Fatal("no attribute was POSTed")
	}
	// The fake is as strict as the documented shape.
	tok := token(t, srv)
	req, _ := http.NewRequest("POST", srv.URL+"/api/asset/1/attributes", strings.NewReader(`[{"name":"a","value":"b"}]`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("the fake took a list of attributes: HTTP %d", resp.StatusCode)
	}
}

func token(t *testing.T, srv *threatqtest.Server) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"grant_type": "password", "client_id": threatqtest.ClientID, "email": threatqtest.Email, "password": threatqtest.Password})
	resp, err := http.Post(srv.URL+"/api/token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.AccessToken
}

// A consume answer is matched back by value, else name, else title, as
// ThreatQ's SDK matches it; an asset the answer does not name at all is
// looked up by its value instead of failing the batch.
func TestConsumeAnswerMatchedAsTheSDKDoes(t *testing.T) {
	srv := threatqtest.NewServer()
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/consume") {
			return nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Data []map[string]any `json:"data"`
		}
		json.Unmarshal(b, &out)
		var kept []map[string]any
		for _, d := range out.Data {
			switch d["value"] {
			case "10.0.0.5": // named by "name" only
				d["name"] = d["value"]
				delete(d, "value")
				kept = append(kept, d)
			case "10.0.0.6": // left out of the answer
			default:
				kept = append(kept, d)
			}
		}
		b, _ = json.Marshal(map[string]any{"data": kept})
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconvItoa(len(b)))
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()
	c, err := threatq.NewClient(front.URL, threatq.WithPasswordGrant(threatq.PasswordGrant{ClientID: threatqtest.ClientID, Email: threatqtest.Email, Password: threatqtest.Password}), threatq.WithInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cve, err := c.EnsureIndicator(ctx, threatq.Indicator{Type: "CVE", Value: "CVE-2019-17053", Sources: []threatq.Source{{Name: "Qualys"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.UpsertAssets(ctx, []threatq.Asset{vulnerableHost("10.0.0.5", cve.ID), vulnerableHost("10.0.0.6", cve.ID), vulnerableHost("10.0.0.7", cve.ID)})
	if err != nil {
		t.Fatalf("a consume answer naming assets otherwise failed the batch: %v", err)
	}
	byValue := map[string]int64{}
	for _, a := range srv.Assets() {
		byValue[a.Value] = a.ID
	}
	for _, a := range got {
		if a.ID == 0 || a.ID != byValue[a.Value] {
			t.Errorf("asset %s got id %d, ThreatQ has %d", a.Value, a.ID, byValue[a.Value])
		}
	}
}

func strconvItoa(n int) string { b, _ := json.Marshal(n); return string(b) }
