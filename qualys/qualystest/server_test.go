package qualystest

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func post(t *testing.T, srv *Server, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(srv.user, srv.pass)
	req.Header.Set("X-Requested-With", "test")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestRejectsWhatQualysRejects(t *testing.T) {
	srv := NewServer(WithTenant(Generate(1, 5)))
	defer srv.Close()
	list := url.Values{"action": {"list"}}
	if resp, body := post(t, srv, APIDetections, list, map[string]string{"X-Requested-With": ""}); resp.StatusCode != 400 || !strings.Contains(body, "<CODE>1999</CODE>") {
		t.Errorf("missing X-Requested-With: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", srv.URL+APIDetections, strings.NewReader(list.Encode()))
	req.Header.Set("X-Requested-With", "t")
	req.SetBasicAuth("qualystest", "wrong")
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 401 {
		t.Errorf("bad password: %d", resp.StatusCode)
	}
	resp.Body.Close()
	long, _ := http.NewRequest("GET", srv.URL+APIDetections+"?action=list&ids="+strings.Repeat("1,", 5000), nil)
	long.SetBasicAuth(srv.user, srv.pass)
	long.Header.Set("X-Requested-With", "t")
	resp, _ = http.DefaultClient.Do(long)
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("long GET URL: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if resp, body := post(t, srv, APIDetections, url.Values{"action": {"list"}, "bogus": {"1"}}, nil); resp.StatusCode != 400 || !strings.Contains(body, "1901") {
		t.Errorf("unknown parameter: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, srv, APIDetections, url.Values{"action": {"list"}, "ids": {"abc"}}, nil); resp.StatusCode != 400 || !strings.Contains(body, "1905") {
		t.Errorf("bad ids: %d %s", resp.StatusCode, body)
	}
}

func TestRateLimitHeadersAndBlocks(t *testing.T) {
	srv := NewServer(WithTenant(Generate(1, 5)), WithLimit(APIDetections, Limit{Calls: 2, Window: time.Hour, Concurrency: 2, OmitToWaitFirst: true}))
	defer srv.Close()
	list := url.Values{"action": {"list"}}
	resp, _ := post(t, srv, APIDetections, list, nil)
	if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != "1" || resp.Header.Get("X-RateLimit-Window-Sec") != "3600" || resp.Header.Get("X-Concurrency-Limit-Limit") != "2" {
		t.Errorf("headers %v", resp.Header)
	}
	post(t, srv, APIDetections, list, nil)
	resp, body := post(t, srv, APIDetections, list, nil)
	if resp.StatusCode != 409 || !strings.Contains(body, "<CODE>1965</CODE>") || resp.Header.Get("X-RateLimit-ToWait-Sec") != "" {
		t.Errorf("first block: %d %q ToWait=%q; want 409/1965 without ToWait-Sec", resp.StatusCode, body, resp.Header.Get("X-RateLimit-ToWait-Sec"))
	}
	resp, _ = post(t, srv, APIDetections, list, nil)
	if resp.StatusCode != 409 || resp.Header.Get("X-RateLimit-ToWait-Sec") == "" {
		t.Errorf("second block: %d ToWait=%q; want the header", resp.StatusCode, resp.Header.Get("X-RateLimit-ToWait-Sec"))
	}
}

func TestTruncationAndFilters(t *testing.T) {
	srv := NewServer(WithTenant(Generate(3, 30)))
	defer srv.Close()
	_, body := post(t, srv, APIDetections, url.Values{"action": {"list"}, "truncation_limit": {"10"}}, nil)
	if strings.Count(body, "<HOST>") != 10 || !strings.Contains(body, "<CODE>1980</CODE>") || !strings.Contains(body, "id_min=") {
		t.Errorf("truncated page: %d hosts, warning present %v", strings.Count(body, "<HOST>"), strings.Contains(body, "1980"))
	}
	_, body = post(t, srv, APIDetections, url.Values{"action": {"list"}, "status": {"Fixed"}}, nil)
	if strings.Contains(body, "<STATUS>Active</STATUS>") || !strings.Contains(body, "<STATUS>Fixed</STATUS>") {
		t.Error("status filter not applied")
	}
	_, body = post(t, srv, APIDetections, url.Values{"action": {"list"}}, nil)
	if strings.Contains(body, "<STATUS>Fixed</STATUS>") {
		t.Error("Fixed detections returned by default")
	}
	if strings.Contains(body, "<TAGS>") {
		t.Error("tags returned without show_tags=1")
	}
}

func TestFaultInjection(t *testing.T) {
	srv := NewServer(WithTenant(Generate(1, 50)))
	defer srv.Close()
	srv.InjectFault(Fault{API: APIDetections, Call: 1, DropAfter: 500})
	req, _ := http.NewRequest("POST", srv.URL+APIDetections, strings.NewReader("action=list"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "t")
	req.SetBasicAuth(srv.user, srv.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) > 500 {
		t.Errorf("dropped body: read %d bytes, err %v; want a cut after 500", len(b), err)
	}
	if resp, _ := post(t, srv, APIDetections, url.Values{"action": {"list"}}, nil); resp.StatusCode != 200 {
		t.Errorf("second call (no fault): %d", resp.StatusCode)
	}
	srv.InjectFault(Fault{API: APIDetections, Call: 1, HTML: true}) // counted from injection
	if resp, body := post(t, srv, APIDetections, url.Values{"action": {"list"}}, nil); resp.StatusCode != 503 || !strings.Contains(body, "Maintenance") {
		t.Errorf("HTML fault: %d", resp.StatusCode)
	}
	if srv.Calls(APIDetections) != 3 || len(srv.Requests()) != 3 {
		t.Errorf("introspection: %d calls, %d requests", srv.Calls(APIDetections), len(srv.Requests()))
	}
}

func TestGenerateIsDeterministicAndConsistent(t *testing.T) {
	a, b := Generate(9, 120), Generate(9, 120)
	if len(a.HostAssets) != 120 || len(a.Detections) != len(b.Detections) || !cmp.Equal(a, b) {
		t.Fatal("Generate is not deterministic")
	}
	kb := map[int64]bool{}
	for _, v := range a.KB {
		kb[v.QID] = true
	}
	hosts := map[int64]bool{}
	var ipv6Only, noDet, cloud, multiLine bool
	for _, h := range a.HostAssets {
		if h.QWebHostID != 0 {
			hosts[h.QWebHostID] = true
		}
		if strings.Contains(h.Address, ":") {
			ipv6Only = true
		}
		if len(h.SourceInfo) > 0 && h.SourceInfo[0].Place() != "" {
			cloud = true
		}
	}
	withDet := map[int64]bool{}
	for _, h := range a.Detections {
		if !hosts[h.ID] {
			t.Errorf("detection host %d has no host asset", h.ID)
		}
		withDet[h.ID] = true
		for _, d := range h.Detections {
			if !kb[d.QID] {
				t.Errorf("QID %d has no KB entry", d.QID)
			}
			if strings.Contains(d.Results, "\n") {
				multiLine = true
			}
		}
	}
	noDet = len(withDet) < len(hosts)
	if !ipv6Only || !noDet || !cloud || !multiLine {
		t.Errorf("variety missing: ipv6-only %v, no detections %v, cloud %v, multi-line %v", ipv6Only, noDet, cloud, multiLine)
	}
}

func TestLoadFromFiles(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	for name, load := range map[string]func(io.Reader) error{
		"detections_indented.xml": srv.LoadDetectionsXML, "hostassets_page.json": srv.LoadHostAssetsJSON,
		"knowledgebase.xml": srv.LoadKnowledgeBaseXML, "gateway_assets.json": srv.LoadAssetsJSON,
	} {
		f, err := os.Open("../../testdata/qualys/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := load(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
	if len(srv.detections) != 2 || len(srv.hostAssets) != 3 || len(srv.kb) != 2 || len(srv.assets) != 2 {
		t.Errorf("loaded %d detection hosts, %d host assets, %d KB entries, %d assets", len(srv.detections), len(srv.hostAssets), len(srv.kb), len(srv.assets))
	}
	_, body := post(t, srv, APIDetections, url.Values{"action": {"list"}, "show_tags": {"1"}}, nil)
	if !strings.Contains(body, "<ID>4100001</ID>") || !strings.Contains(body, "pci & dmz") {
		t.Errorf("loaded detections not served:\n%.500s", body)
	}
}

func TestQPSAnswersXMLUnlessJSONIsAccepted(t *testing.T) {
	srv := NewServer(WithTenant(Generate(1, 3)))
	defer srv.Close()
	body := `<ServiceRequest><preferences><limitResults>2</limitResults></preferences></ServiceRequest>`
	for _, accept := range []string{"", "application/json"} {
		req, _ := http.NewRequest("POST", srv.URL+APIHostAssets, strings.NewReader(body))
		req.SetBasicAuth(srv.user, srv.pass)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if accept == "" {
			var x struct {
				Code    string `xml:"responseCode"`
				More    string `xml:"hasMoreRecords"`
				LastID  int64  `xml:"lastId"`
				Records []struct {
					ID   int64  `xml:"id"`
					Name string `xml:"name"`
					IFs  []struct {
						Address string `xml:"address"`
					} `xml:"networkInterface>list>HostAssetInterface"`
				} `xml:"data>HostAsset"`
			}
			if err := xml.Unmarshal(b, &x); err != nil || x.Code != "SUCCESS" || x.More != "true" || len(x.Records) != 2 || x.Records[0].ID == 0 || len(x.Records[0].IFs) == 0 || x.LastID != x.Records[1].ID {
				t.Errorf("XML answer %+v err %v:\n%.400s", x, err, b)
			}
		} else if !strings.HasPrefix(strings.TrimSpace(string(b)), `{"ServiceResponse"`) {
			t.Errorf("JSON answer: %.200s", b)
		}
	}
}

// WithBaseTime moves every generated date to before the base, and the same
// seed with the same base gives the same tenant.
func TestGenerateWithBaseTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	a := Generate(3, 20, WithBaseTime(base))
	b := Generate(3, 20, WithBaseTime(base))
	def := Generate(3, 20)
	checked := 0
	for i, h := range a.HostAssets {
		if !h.Modified.Before(base) || h.Modified.Before(base.AddDate(0, 0, -31)) {
			t.Errorf("host %d modified %v, want within 30 days before %v", i, h.Modified, base)
		}
		if !h.Modified.Equal(b.HostAssets[i].Modified) {
			t.Errorf("host %d: same seed and base gave %v and %v", i, h.Modified, b.HostAssets[i].Modified)
		}
		if !def.HostAssets[i].Modified.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("default base: host %d modified %v, want before 2026", i, def.HostAssets[i].Modified)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no hosts generated")
	}
}
