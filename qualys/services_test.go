package qualys_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// newFake starts a fake with a generated tenant and a client for it.
func newFake(t *testing.T, hosts int, opts ...qualystest.Option) (*qualystest.Server, *qualys.Client) {
	t.Helper()
	tenant := qualystest.Generate(42, hosts, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3))
	srv := qualystest.NewServer(append([]qualystest.Option{qualystest.WithTenant(tenant)}, opts...)...)
	t.Cleanup(srv.Close)
	user, pass := srv.Credentials()
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(srv.GatewayURL),
		qualys.WithInsecureLoopback(), qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestDetectionsFollowTruncation(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 95)
	seen := map[int64]int{}
	for h, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{TruncationLimit: 20}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[h.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("host %d seen %d times", id, n)
		}
	}
	calls := srv.Calls(qualystest.APIDetections)
	if want := (len(seen) + 19) / 20; calls != want {
		t.Errorf("%d hosts in %d calls, want %d", len(seen), calls, want)
	}
	// Every follow-up call carries the original filters plus id_min.
	reqs := srv.Requests()
	for _, r := range reqs[1:] {
		if r.API == qualystest.APIDetections && (r.Form.Get("id_min") == "" || r.Form.Get("truncation_limit") != "20") {
			t.Errorf("follow-up request form %v", r.Form)
		}
	}
}

func TestTruncationURLHostIsIgnored(t *testing.T) {
	t.Parallel()
	var evil atomic.Int32
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { evil.Add(1) }))
	defer evilSrv.Close()
	var calls atomic.Int32
	var secondForm string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		n := calls.Add(1)
		body := `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>%d</ID></HOST></HOST_LIST>%s</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
		if n == 1 {
			fmt.Fprintf(w, body, 10, `<WARNING><CODE>1980</CODE><TEXT>1 record limit exceeded.</TEXT><URL><![CDATA[`+evilSrv.URL+`/api/2.0/fo/asset/host/vm/detection/?action=list&truncation_limit=1&id_min=11]]></URL></WARNING>`)
			return
		}
		secondForm = r.PostForm.Encode()
		fmt.Fprintf(w, body, 11, "")
	}))
	defer srv.Close()
	c, _ := qualys.NewClient(srv.URL, qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback())
	var ids []int64
	for h, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{TruncationLimit: 1, QIDs: []int64{5}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID)
	}
	if evil.Load() != 0 {
		t.Fatal("the client followed the truncation URL's host")
	}
	if !slices.Equal(ids, []int64{10, 11}) || !strings.Contains(secondForm, "id_min=11") || !strings.Contains(secondForm, "qids=5") {
		t.Errorf("hosts %v, second form %q", ids, secondForm)
	}
}

func TestTruncationThatDoesNotAdvanceIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>10</ID></HOST></HOST_LIST><WARNING><CODE>1980</CODE><URL><![CDATA[https://x/?action=list&id_min=5]]></URL></WARNING></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`)
	}))
	defer srv.Close()
	c, _ := qualys.NewClient(srv.URL, qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback())
	var err error
	n := 0
	for _, e := range c.Detections.List(context.Background(), nil) {
		if e != nil {
			err = e
		}
		if n++; n > 10 {
			t.Fatal("looping")
		}
	}
	if err == nil || !strings.Contains(err.Error(), "does not advance") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "id_min 5") {
		t.Errorf("the error does not quote the id_min the server sent: %v", err)
	}
}

func TestDetectionQueryEncoding(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 5)
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	q := &qualys.DetectionQuery{IDs: []int64{1, 2}, Status: []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusFixed}, ShowResults: qualys.Bool(false),
		Severities: []int{4, 5}, DetectionUpdatedSince: since, IncludeSearchListIDs: nil, TruncationLimit: -1}
	for _, err := range c.Detections.List(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
	}
	f := srv.Requests()[0].Form
	want := map[string]string{"ids": "1,2", "status": "New,Fixed", "show_results": "0", "severities": "4,5",
		"detection_updated_since": "2026-01-02T02:04:05Z", "truncation_limit": "0", "action": "list"}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	if _, ok := f["show_igs"]; ok {
		t.Error("unset flag sent")
	}
	// The caller's query is copied: changing it after List is called has no effect.
	q.IDs[0] = 99
	for _, bad := range []*qualys.DetectionQuery{{Severities: []int{7}}, {IDs: []int64{5, 0}}} {
		for _, err := range c.Detections.List(context.Background(), bad) {
			var ce *qualys.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("%+v: err = %v, want a ConfigError before any call", bad, err)
			}
		}
	}
}

func TestVulnerableHostsDeletesListInEveryCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}

	t.Run("success", func(t *testing.T) {
		srv, c := newFake(t, 60)
		n := 0
		for h, err := range c.VulnerableHosts(ctx, q) {
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(h.Detections, func(d qualys.Detection) bool { return d.QID == 38170 }) || len(h.Detections) != 1 {
				t.Errorf("host %d detections %+v: want only the CVE's QID", h.ID, h.Detections)
			}
			n++
		}
		if n == 0 || len(srv.SearchLists()) != 0 {
			t.Errorf("%d hosts, lists left %v", n, srv.SearchLists())
		}
	})
	t.Run("no host vulnerable", func(t *testing.T) {
		srv, c := newFake(t, 10)
		for _, err := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2001-0001"}}) {
			if err != nil {
				t.Fatal(err)
			}
			t.Error("a host was yielded")
		}
		// create, list (to read its QIDs), delete
		if len(srv.SearchLists()) != 0 || srv.Calls(qualystest.APISearchLists) != 3 {
			t.Errorf("lists left %v after %d calls", srv.SearchLists(), srv.Calls(qualystest.APISearchLists))
		}
	})
	t.Run("break", func(t *testing.T) {
		srv, c := newFake(t, 60)
		for range c.VulnerableHosts(ctx, q) {
			break
		}
		if len(srv.SearchLists()) != 0 {
			t.Errorf("lists left %v", srv.SearchLists())
		}
	})
	t.Run("error", func(t *testing.T) {
		srv, c := newFake(t, 60)
		srv.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Status: 400, Body: "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>bad</TEXT></RESPONSE></SIMPLE_RETURN>"})
		var err error
		for _, e := range c.VulnerableHosts(ctx, q) {
			err = e
		}
		if err == nil || len(srv.SearchLists()) != 0 {
			t.Errorf("err %v, lists left %v", err, srv.SearchLists())
		}
	})
	t.Run("cancel", func(t *testing.T) {
		srv, c := newFake(t, 60)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		for _, e := range c.VulnerableHosts(cctx, q) {
			if e != nil {
				err = e
				break
			}
			cancel()
		}
		_ = err
		if len(srv.SearchLists()) != 0 {
			t.Errorf("lists left %v after cancel", srv.SearchLists())
		}
	})
	t.Run("delete fails", func(t *testing.T) {
		srv, c := newFake(t, 10)
		// Call 3 is the delete (after create and the list that reads its QIDs).
		srv.InjectFault(qualystest.Fault{API: qualystest.APISearchLists, Call: 3, Status: 400, Body: "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>nope</TEXT></RESPONSE></SIMPLE_RETURN>"})
		var err error
		for _, e := range c.VulnerableHosts(ctx, q) {
			err = e
		}
		ids := srv.SearchLists()
		if len(ids) != 1 || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("delete it by hand (QID search lists, id %d)", ids[0])) {
			t.Errorf("err = %v, lists %v; want the list id named", err, ids)
		}
		var de *qualys.SearchListDeleteError
		if !errors.As(err, &de) || len(ids) != 1 || de.ListID != ids[0] {
			t.Errorf("errors.As gives %+v, want the list id %v", de, ids)
		}
	})
	t.Run("invalid CVE creates nothing", func(t *testing.T) {
		srv, c := newFake(t, 5)
		for _, err := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-19-1"}}) {
			var ce *qualys.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("err = %v", err)
			}
		}
		if srv.TotalCalls() != 0 {
			t.Errorf("%d calls for an invalid query", srv.TotalCalls())
		}
	})
}

func TestVulnerableHostsFilters(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 80)
	ctx := context.Background()
	all := map[int64]*qualys.DetectionHost{}
	for h, err := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
		if err != nil {
			t.Fatal(err)
		}
		all[h.ID] = h
	}
	var someIP string
	for _, h := range all {
		if h.IP != "" {
			someIP = h.IP
			break
		}
	}
	count := func(q *qualys.VulnerableHostsQuery) int {
		q.CVEs = []string{"CVE-2019-17053"}
		n := 0
		for _, err := range c.VulnerableHosts(ctx, q) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(&qualys.VulnerableHostsQuery{IPs: []string{someIP}}); n != 1 {
		t.Errorf("IP filter: %d hosts, want 1", n)
	}
	if n := count(&qualys.VulnerableHostsQuery{MinSeverity: 5}); n != 0 {
		t.Errorf("min severity 5: %d hosts, want 0 (the CVE's QID is severity 4)", n)
	}
	if n := count(&qualys.VulnerableHostsQuery{MinSeverity: 4}); n != len(all) {
		t.Errorf("min severity 4: %d hosts, want %d", n, len(all))
	}
	if n := count(&qualys.VulnerableHostsQuery{FoundAfter: time.Now()}); n != 0 {
		t.Errorf("found after now: %d hosts", n)
	}
	if n := count(&qualys.VulnerableHostsQuery{AssetGroupTitles: []string{"Data Center"}}); n == 0 || n >= len(all) {
		t.Errorf("asset group: %d of %d hosts", n, len(all))
	}
	if len(srv.SearchLists()) != 0 {
		t.Errorf("lists left: %v", srv.SearchLists())
	}
}

func TestHostAssetsPaginationUnderMutation(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 30)
	var ids []int64
	for a, err := range c.HostAssets.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	removed, seenEarly := ids[25], ids[3]
	pages := 0
	srv.OnPage(func(api string, page int) {
		if api != qualystest.APIHostAssets {
			return
		}
		if pages++; pages == 2 {
			srv.RemoveHostAsset(seenEarly) // already listed: offset paging would now skip a host
			srv.RemoveHostAsset(removed)   // not listed yet
			srv.AddHostAsset(&qualys.HostAsset{ID: ids[len(ids)-1] + 100, Name: "new", Type: "HOST"})
		}
	})
	seen := map[int64]int{}
	for a, err := range c.HostAssets.List(context.Background(), &qualys.HostAssetQuery{PageSize: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[a.ID]++
	}
	for _, id := range ids {
		want := 1
		if id == removed {
			want = 0
		}
		if seen[id] != want {
			t.Errorf("host %d seen %d times, want %d", id, seen[id], want)
		}
	}
	if seen[ids[len(ids)-1]+100] != 1 {
		t.Error("host added during the listing was not seen")
	}
}

func TestHostAssetsPagesAndResume(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, 25)
	var cursors []int64
	total := 0
	for p, err := range c.HostAssets.Pages(context.Background(), &qualys.HostAssetQuery{PageSize: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, p.Cursor)
		total += len(p.Assets)
		if p.Cursor != p.Assets[len(p.Assets)-1].ID {
			t.Errorf("cursor %d is not the page's last id", p.Cursor)
		}
	}
	if len(cursors) != 3 || total != 25 {
		t.Fatalf("%d pages, %d assets", len(cursors), total)
	}
	n := 0
	for _, err := range c.HostAssets.List(context.Background(), &qualys.HostAssetQuery{AfterID: cursors[0]}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 15 {
		t.Errorf("resume after the first page: %d assets, want 15", n)
	}
}

func TestHostAssetsBreakStopsFetching(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 30)
	for range c.HostAssets.List(context.Background(), &qualys.HostAssetQuery{PageSize: 10}) {
		break
	}
	if n := srv.Calls(qualystest.APIHostAssets); n != 1 {
		t.Errorf("%d calls after an early break, want 1", n)
	}
}

func TestHostAssetsContextCancelled(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 30)
	srv.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, Call: 2, SlowBody: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	n := 0
	for _, e := range c.HostAssets.List(ctx, &qualys.HostAssetQuery{PageSize: 10}) {
		if e != nil {
			err = e
			break
		}
		if n++; n == 12 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestHostAssetsUpdatedSinceAndFields(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 40)
	since := time.Date(2025, 12, 20, 0, 0, 0, 0, time.FixedZone("X", -5*3600))
	n := 0
	for a, err := range c.HostAssets.List(context.Background(), &qualys.HostAssetQuery{UpdatedSince: since, Fields: []string{"id", "name"}}) {
		if err != nil {
			t.Fatal(err)
		}
		if !a.Modified.After(since) {
			t.Errorf("asset %d modified %v, not after %v", a.ID, a.Modified, since)
		}
		n++
	}
	r := srv.Requests()[0]
	if r.Form.Get("fields") != "id,name" {
		t.Errorf("fields = %q", r.Form.Get("fields"))
	}
	if n == 0 || n == 40 {
		t.Errorf("%d of 40 assets updated since; the filter did nothing", n)
	}
}

func TestHostAssetsWrongPassword(t *testing.T) {
	t.Parallel()
	srv, _ := newFake(t, 3)
	c, _ := qualys.NewClient(srv.URL, qualys.WithCredentials("qualystest", "wrong"), qualys.WithInsecureLoopback())
	for _, err := range c.HostAssets.List(context.Background(), nil) {
		if !errors.Is(err, qualys.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	}
	for _, err := range c.Detections.List(context.Background(), nil) {
		if !errors.Is(err, qualys.ErrUnauthorized) {
			t.Fatalf("detections: err = %v, want ErrUnauthorized", err)
		}
	}
}

func TestHostAssetsMaintenancePageRetried(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 3)
	srv.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, HTML: true, Status: 200, Times: 2})
	n := 0
	for _, err := range c.HostAssets.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 || srv.Calls(qualystest.APIHostAssets) != 3 {
		t.Errorf("%d assets after %d calls; want 3 after two maintenance pages", n, srv.Calls(qualystest.APIHostAssets))
	}
}

func TestHostAssetsMaintenancePage(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 3)
	srv.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, HTML: true, Status: 200, Times: 10})
	for _, err := range c.HostAssets.List(context.Background(), nil) {
		if err == nil || !strings.Contains(err.Error(), "HTML") || !strings.Contains(err.Error(), "Maintenance") {
			t.Fatalf("err = %v, want a maintenance-page error with a snippet", err)
		}
	}
}

func TestAssetsGatewayJWT(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 40)
	n := 0
	for a, err := range c.Assets.List(context.Background(), &qualys.AssetQuery{PageSize: 15}) {
		if err != nil {
			t.Fatal(err)
		}
		if a.AssetID == 0 || len(a.Software) == 0 {
			t.Errorf("asset %+v", a)
		}
		n++
		if n == 15 {
			srv.ExpireGatewayTokens() // the token expires mid-listing
		}
	}
	if n != 40 {
		t.Errorf("%d assets, want 40", n)
	}
	if got := srv.Calls(qualystest.APIGatewayAuth); got != 2 {
		t.Errorf("%d logins, want 2 (one, then one after the 401)", got)
	}
	for _, r := range srv.Requests() {
		if r.API == qualystest.APIGatewayAssets && (r.Form.Get("softwareType") != "Application" || r.Form.Get("pageSize") != "15") {
			t.Errorf("form %v", r.Form)
		}
	}
	// Bad credentials: one clear error, no loop.
	bad, _ := qualys.NewClient(srv.URL, qualys.WithCredentials("qualystest", "nope"), qualys.WithGateway(srv.GatewayURL), qualys.WithInsecureLoopback())
	for _, err := range bad.Assets.List(context.Background(), nil) {
		if !errors.Is(err, qualys.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	}
	noGW, _ := qualys.NewClient(srv.URL, qualys.WithCredentials("qualystest", "nope"), qualys.WithInsecureLoopback())
	for _, err := range noGW.Assets.List(context.Background(), nil) {
		var ce *qualys.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "WithGateway") {
			t.Fatalf("err = %v", err)
		}
	}
}

func TestKnowledgeBaseChunksEveryQID(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 200) // a KnowledgeBase of 400 QIDs plus the CVE's
	qids := []int64{38170}
	for i := range 400 {
		qids = append(qids, int64(10000+i*37))
	}
	qids = append(qids, qids[5], qids[6]) // duplicates are asked for once
	got := map[int64]bool{}
	for v, err := range c.KnowledgeBase.List(context.Background(), &qualys.KnowledgeBaseQuery{QIDs: qids, ChunkSize: 150, Details: "Basic"}) {
		if err != nil {
			t.Fatal(err)
		}
		got[v.QID] = true
	}
	if calls := srv.Calls(qualystest.APIKnowledgeBase); calls != 3 {
		t.Errorf("%d calls for 401 QIDs in chunks of 150, want 3", calls)
	}
	if len(got) != 401 {
		t.Errorf("%d entries, want 401 (every chunk enriched)", len(got))
	}
	for _, r := range srv.Requests() {
		if r.Method != http.MethodPost || len(r.Form.Get("ids")) == 0 || r.Form.Get("details") != "Basic" {
			t.Errorf("KB request %s with ids %q details %q", r.Method, r.Form.Get("ids"), r.Form.Get("details"))
		}
	}
}

// TestKnowledgeBaseGetAndDetails: Get returns the entries by QID (an
// unknown QID absent, duplicates asked for once); the three detail levels
// return what their documentation says.
func TestKnowledgeBaseGetAndDetails(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 20)
	ctx := context.Background()
	got, err := c.KnowledgeBase.Get(ctx, []int64{10000, 38170, 38170, 999999999})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[38170] == nil || len(got[38170].CVEs) == 0 || got[10000] == nil || got[10000].Diagnosis == "" {
		t.Fatalf("Get = %v; want 10000 and 38170, with their details", got)
	}
	if calls := srv.Calls(qualystest.APIKnowledgeBase); calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
	if empty, err := c.KnowledgeBase.Get(ctx, nil); err != nil || len(empty) != 0 || srv.Calls(qualystest.APIKnowledgeBase) != 1 {
		t.Errorf("Get(nil) = %v, %v with %d calls; want an empty map without a call", empty, err, srv.Calls(qualystest.APIKnowledgeBase))
	}
	for _, d := range []qualys.KBDetails{qualys.DetailsBasic, qualys.DetailsNone} {
		var e *qualys.Vulnerability
		for x, err := range c.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: []int64{10000}, Details: d}) {
			if err != nil {
				t.Fatal(err)
			}
			e = x
		}
		switch {
		case e == nil || e.QID != 10000:
			t.Errorf("%s: entry %+v", d, e)
		case d == qualys.DetailsBasic && (e.Title == "" || len(e.Software) == 0 || e.Diagnosis != ""):
			t.Errorf("Basic: title %q, %d software, diagnosis %q; want the basic elements without the texts", e.Title, len(e.Software), e.Diagnosis)
		case d == qualys.DetailsNone && (e.Title != "" || len(e.Software) != 0 || e.Severity != 0):
			t.Errorf("None: %+v; want the QID alone", e)
		}
	}
}

// TestMinSeverityAsVulnerableHostsHasIt: DetectionQuery.MinSeverity is
// sent as the severities from it to 5.
func TestMinSeverityAsVulnerableHostsHasIt(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 5)
	for _, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{MinSeverity: 3, IncludeVulnType: qualys.IncludeConfirmed}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	f := srv.Requests()[0].Form
	if f.Get("severities") != "3,4,5" || f.Get("include_vuln_type") != "confirmed" {
		t.Errorf("severities %q include_vuln_type %q; want 3,4,5 and confirmed", f.Get("severities"), f.Get("include_vuln_type"))
	}
}

func TestSearchListsCreateListDelete(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 10)
	ctx := context.Background()
	id, err := c.SearchLists.CreateDynamic(ctx, &qualys.DynamicSearchList{Title: "t1", CVEIDs: []string{"CVE-2019-17053"}})
	if err != nil {
		t.Fatal(err)
	}
	var lists []*qualys.SearchList
	for l, err := range c.SearchLists.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
	}
	if len(lists) != 1 || lists[0].ID != id || !slices.Contains(lists[0].QIDs, 38170) || lists[0].Criteria["CVE_ID"] != "CVE-2019-17053" {
		t.Fatalf("lists %+v", lists[0])
	}
	if _, err := c.SearchLists.CreateDynamic(ctx, &qualys.DynamicSearchList{Title: "t1"}); err == nil {
		t.Error("duplicate title accepted")
	}
	if err := c.SearchLists.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.SearchLists.Delete(ctx, id); err == nil {
		t.Error("deleting a deleted list succeeded")
	}
	if len(srv.SearchLists()) != 0 {
		t.Error("list not deleted")
	}
}

func TestCreateNotRepeatedAfter503ButAfter409(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 3)
	srv.InjectFault(qualystest.Fault{API: qualystest.APISearchLists, Call: 1, Status: 503})
	if _, err := c.SearchLists.CreateDynamic(context.Background(), &qualys.DynamicSearchList{Title: "a"}); err == nil {
		t.Fatal("503 on create was not reported")
	}
	if srv.Calls(qualystest.APISearchLists) != 1 {
		t.Errorf("create sent %d times after a 503", srv.Calls(qualystest.APISearchLists))
	}
	srv.InjectFault(qualystest.Fault{API: qualystest.APISearchLists, Call: 2, Status: 409, Body: "<SIMPLE_RETURN><RESPONSE><CODE>1960</CODE><TEXT>This API cannot be run again until 1 currently running API instance has finished.</TEXT></RESPONSE></SIMPLE_RETURN>"})
	if _, err := c.SearchLists.CreateDynamic(context.Background(), &qualys.DynamicSearchList{Title: "b"}); err != nil {
		t.Fatalf("create after a 1960 block: %v", err)
	}
	if len(srv.SearchLists()) != 1 {
		t.Errorf("lists %v, want exactly one", srv.SearchLists())
	}
}

func TestRateLimitStormRiddenOut(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 20, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Calls: 3, Window: time.Second, Concurrency: 1, OmitToWaitFirst: true}))
	n := 0
	for _, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{TruncationLimit: 5}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 || srv.PeakConcurrency(qualystest.APIDetections) > 1 {
		t.Errorf("%d hosts, peak concurrency %d", n, srv.PeakConcurrency(qualystest.APIDetections))
	}
	r, ok := c.RateFor(c.EndpointPath(qualys.EndpointDetections))
	if !ok || r.Limit != 3 || r.ConcurrencyLimit != 1 {
		t.Errorf("rate %+v", r)
	}
}

func TestDecodeFromFakeMatchesTenant(t *testing.T) {
	t.Parallel()
	tenant := qualystest.Generate(7, 30, qualystest.WithInvalidChars())
	pr, pw := io.Pipe()
	go func() {
		w := qualystest.NewDetectionWriter(pw, true)
		for _, h := range tenant.Detections {
			w.WriteHost(h, true)
		}
		pw.CloseWithError(w.Close(nil))
	}()
	i := 0
	for h, err := range qualys.DecodeDetections(pr) {
		if err != nil {
			t.Fatal(err)
		}
		want := tenant.Detections[i]
		if h.ID != want.ID || len(h.Detections) != len(want.Detections) || h.Detections[0].Results != strings.Map(func(r rune) rune {
			if r == 1 || r == 0xb {
				return '\uFFFD'
			}
			return r
		}, want.Detections[0].Results) {
			t.Fatalf("host %d decoded as %+v", want.ID, h)
		}
		i++
	}
	if i != len(tenant.Detections) {
		t.Errorf("%d hosts decoded, want %d", i, len(tenant.Detections))
	}
}

func TestDetectionStreamCutIsResumedWithoutDuplicates(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 60)
	srv.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 1, DropAfter: 20000})
	seen := map[int64]int{}
	for h, err := range c.Detections.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		seen[h.ID]++
	}
	clean := 0
	for range c.Detections.List(context.Background(), nil) {
		clean++
	}
	if len(seen) != clean {
		t.Errorf("%d hosts after a cut, %d without", len(seen), clean)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("host %d yielded %d times", id, n)
		}
	}
	reqs := srv.Requests()
	if reqs[1].Form.Get("id_min") == "" {
		t.Errorf("the resumed request has no id_min: %v", reqs[1].Form)
	}
}

func TestCutPagesAreResumedWithoutDuplicates(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 60)
	ctx := context.Background()
	srv.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, Call: 1, DropAfter: 30000})
	srv.InjectFault(qualystest.Fault{API: qualystest.APIGatewayAssets, Call: 1, DropAfter: 20000})
	srv.InjectFault(qualystest.Fault{API: qualystest.APIKnowledgeBase, Call: 1, DropAfter: 6000})
	seen := map[int64]int{}
	for a, err := range c.HostAssets.List(ctx, &qualys.HostAssetQuery{PageSize: 50}) {
		if err != nil {
			t.Fatalf("host assets: %v", err)
		}
		seen[a.ID]++
	}
	gw := map[int64]int{}
	for a, err := range c.Assets.List(ctx, nil) {
		if err != nil {
			t.Fatalf("gateway: %v", err)
		}
		gw[a.AssetID]++
	}
	var qids []int64
	for i := range 60 {
		qids = append(qids, int64(10000+i*37))
	}
	kb := map[int64]int{}
	for v, err := range c.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: qids}) {
		if err != nil {
			t.Fatalf("KB: %v", err)
		}
		kb[v.QID]++
	}
	for name, m := range map[string]map[int64]int{"host assets": seen, "gateway assets": gw, "KB entries": kb} {
		if len(m) != 60 {
			t.Errorf("%s: %d distinct, want 60", name, len(m))
		}
		for id, n := range m {
			if n != 1 {
				t.Errorf("%s: %d delivered %d times", name, id, n)
			}
		}
	}
	if fired := srv.FaultsFired()["fault"]; fired != 3 {
		t.Errorf("%d faults fired, want 3 (the test would prove nothing)", fired)
	}
}

// TestDetectionQueryEveryParameter sets every typed field and checks the
// parameter names and values sent, exactly as Qualys spells them; the fake
// refuses unknown parameters, so a misspelling fails the call too.
func TestDetectionQueryEveryParameter(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 5)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	q := &qualys.DetectionQuery{
		IDs: []int64{1}, IDMin: 1, IDMax: 9, IPs: []string{"10.0.0.1"}, IPv6: []string{"fe80::1"}, AssetGroupIDs: []int64{3},
		NetworkIDs: []int64{0 + 7}, NetworkName: "Global Default Network", OSPattern: "^Linux", ComplianceEnabled: qualys.Bool(false),
		VMScanSince: at, NoVMScanSince: at, MaxDaysSinceVMScan: 30, VMProcessedAfter: at, VMProcessedBefore: at,
		VMScanDateBefore: at, VMScanDateAfter: at, VMAuthScanDateBefore: at, VMAuthScanDateAfter: at,
		QIDs: []int64{38170}, Severities: []int{3}, Status: []qualys.DetectionStatus{qualys.StatusReOpened}, IncludeVulnType: "potential",
		IncludeIgnored: qualys.Bool(true), IncludeDisabled: qualys.Bool(true), DetectionUpdatedSince: at, DetectionUpdatedBefore: at,
		DetectionProcessedAfter: at, DetectionProcessedBefore: at, MaxDaysSinceDetectionUpdated: 10,
		DetectionLastTestedSince: at, DetectionLastTestedBefore: at, DetectionLastTestedSinceDays: 2, DetectionLastTestedBeforeDays: 1,
		FilterSupersededQIDs: qualys.Bool(true), QDSMin: 40, QDSMax: 90,
		ARFKernelFilter: 1, ARFServiceFilter: 2, ARFConfigFilter: 3, ActiveKernelsOnly: 1,
		UseTags: qualys.Bool(true), TagSetBy: "name", TagIncludeSel: "all", TagExcludeSel: "any", TagSetInclude: []string{"Prod"}, TagSetExclude: []string{"Lab"},
		ShowResults: qualys.Bool(false), ShowIGs: qualys.Bool(true), ShowTags: qualys.Bool(true), ShowQDS: qualys.Bool(true),
		ShowQDSFactors: qualys.Bool(true), ShowAssetID: qualys.Bool(true), EchoRequest: qualys.Bool(false),
		VulnDetectionSource: qualys.Bool(true), HostMetadata: "all", HostMetadataFields: []string{"region"},
		ShowCloudTags: qualys.Bool(true), CloudTagFields: []string{"env"}, TruncationLimit: 50,
	}
	for _, err := range c.Detections.List(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
	}
	const ts = "2026-03-04T05:06:07Z"
	want := map[string]string{
		"action": "list", "ids": "1", "id_min": "1", "id_max": "9", "ips": "10.0.0.1", "ipv6": "fe80::1", "ag_ids": "3",
		"network_ids": "7", "network_name": "Global Default Network", "os_pattern": "^Linux", "compliance_enabled": "0",
		"vm_scan_since": ts, "no_vm_scan_since": ts, "max_days_since_last_vm_scan": "30", "vm_processed_after": ts, "vm_processed_before": ts,
		"vm_scan_date_before": ts, "vm_scan_date_after": ts, "vm_auth_scan_date_before": ts, "vm_auth_scan_date_after": ts,
		"qids": "38170", "severities": "3", "status": "Re-Opened", "include_vuln_type": "potential", "include_ignored": "1", "include_disabled": "1",
		"detection_updated_since": ts, "detection_updated_before": ts, "detection_processed_after": ts, "detection_processed_before": ts,
		"max_days_since_detection_updated": "10", "detection_last_tested_since": ts, "detection_last_tested_before": ts,
		"detection_last_tested_since_days": "2", "detection_last_tested_before_days": "1", "filter_superseded_qids": "1",
		"qds_min": "40", "qds_max": "90", "arf_kernel_filter": "1", "arf_service_filter": "2", "arf_config_filter": "3", "active_kernels_only": "1",
		"use_tags": "1", "tag_set_by": "name", "tag_include_selector": "all", "tag_exclude_selector": "any", "tag_set_include": "Prod", "tag_set_exclude": "Lab",
		"show_results": "0", "show_igs": "1", "show_tags": "1", "show_qds": "1", "show_qds_factors": "1", "show_asset_id": "1", "echo_request": "0",
		"vuln_detection_source": "1", "host_metadata": "all", "host_metadata_fields": "region", "show_cloud_tags": "1", "cloud_tag_fields": "env",
		"truncation_limit": "50",
	}
	got := map[string]string{}
	for k, v := range srv.Requests()[0].Form {
		got[k] = strings.Join(v, "|")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
}

func TestDetectionQueryEnumerationsValidatedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 5)
	cases := map[string]*qualys.DetectionQuery{
		"Status":             {Status: []qualys.DetectionStatus{"Open"}},
		"IncludeVulnType":    {IncludeVulnType: "Confirmed"},
		"TagSetBy":           {TagSetBy: "title"},
		"TagIncludeSel":      {TagIncludeSel: "some"},
		"TagExcludeSel":      {TagExcludeSel: "none"},
		"HostMetadata":       {HostMetadata: "aws"},
		"QDSMin":             {QDSMin: 101},
		"QDSMax":             {QDSMax: -1},
		"QDSMin ":            {QDSMin: 80, QDSMax: 20},
		"ARFKernelFilter":    {ARFKernelFilter: 5},
		"ActiveKernelsOnly":  {ActiveKernelsOnly: 4},
		"MaxDaysSinceVMScan": {MaxDaysSinceVMScan: -3},
		"HostMetadataFields": {HostMetadataFields: []string{"region"}},
		"Severities":         {Severities: []int{0}},
		"MinSeverity":        {MinSeverity: 6},
		"MinSeverity  ":      {MinSeverity: 3, Severities: []int{4}},
	}
	for field, q := range cases {
		for _, err := range c.Detections.List(context.Background(), q) {
			var ce *qualys.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Option, strings.TrimSpace(field)) {
				t.Errorf("%s: err = %v, want a ConfigError naming the field", field, err)
			}
		}
	}
	if n := srv.TotalCalls(); n != 0 {
		t.Errorf("%d calls sent for invalid queries", n)
	}
}

// TestCancelDuringCreateDeletesTheList: the caller cancels while the
// create's answer is still arriving (the list exists on the server); the
// flow finds the list by its title with a detached context, deletes it,
// and says so.
func TestCancelDuringCreateDeletesTheList(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 20)
	srv.InjectFault(qualystest.Fault{API: qualystest.APISearchLists, Call: 1, SlowBody: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the list exists, before its answer trickles in.
	srv.OnSearchListCreated(func(int64) { cancel() })
	var err error
	for _, e := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
		err = e
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "found by its title and deleted") {
		t.Errorf("err = %v; want the cancellation and what was done", err)
	}
	if lists := srv.SearchLists(); len(lists) != 0 {
		t.Errorf("lists left %v", lists)
	}
}

// TestConnectFailureIsNotAmbiguous: when no request can reach the server,
// the flow does not claim a list may exist, and does not look for one.
func TestConnectFailureIsNotAmbiguous(t *testing.T) {
	t.Parallel()
	c, err := qualys.NewClient("http://127.0.0.1:1", qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback(),
		qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	for _, err = range c.VulnerableHosts(context.Background(), &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
	}
	if err == nil || strings.Contains(err.Error(), "may have been created") {
		t.Errorf("err = %v", err)
	}
	// It did not look for a list either: one attempt at the create, no
	// listing of search lists.
	if calls := c.Calls(); calls[c.EndpointPath(qualys.EndpointSearchLists)] != 1 {
		t.Errorf("search list calls %v, want the one create", calls)
	}
}

// A login refused with a proxy's HTML page (no Qualys code) or a TLS
// failure: no request reached a search-list call, so the flow neither
// looks for a list to delete nor says one may have been created.
func TestRefusedLoginIsNotAmbiguous(t *testing.T) {
	t.Parallel()
	for name, srv := range map[string]*httptest.Server{
		"401 HTML": httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(401)
			io.WriteString(w, "<html><body>Unauthorized</body></html>")
		})),
		"TLS": httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})),
	} {
		t.Run(name, func(t *testing.T) {
			defer srv.Close()
			u := strings.Replace(srv.URL, "http://", "https://", 1)
			opts := []qualys.Option{qualys.WithCredentials("u", "p"), qualys.WithBackoff(func(int) time.Duration { return time.Millisecond })}
			if name != "TLS" {
				u, opts = srv.URL, append(opts, qualys.WithInsecureLoopback())
			}
			c, err := qualys.NewClient(u, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, err = range c.VulnerableHosts(context.Background(), &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
			}
			if err == nil || strings.Contains(err.Error(), "may have been created") {
				t.Errorf("err = %v", err)
			}
			if calls := c.Calls()[c.EndpointPath(qualys.EndpointSearchLists)]; calls != 1 {
				t.Errorf("%d search list calls, want the one create (no search for a list to delete)", calls)
			}
		})
	}
}
