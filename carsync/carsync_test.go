package carsync_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

type env struct {
	q      *qualystest.Server
	c      *cartest.Server
	tenant *qualystest.Tenant
	cfg    carsync.Config
}

func newEnv(t *testing.T, hosts int, qopts ...qualystest.Option) *env {
	t.Helper()
	tenant := qualystest.Generate(5, hosts, qualystest.WithVulnerableTo("CVE-2019-17053", 0.2))
	q := qualystest.NewServer(append([]qualystest.Option{qualystest.WithTenant(tenant)}, qopts...)...)
	t.Cleanup(q.Close)
	c := cartest.NewServer()
	t.Cleanup(c.Close)
	return &env{q: q, c: c, tenant: tenant, cfg: config(t, q, c)}
}

func config(t testing.TB, q *qualystest.Server, c *cartest.Server) carsync.Config {
	t.Helper()
	user, pass := q.Credentials()
	qc, err := qualys.NewClient(q.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(q.GatewayURL), qualys.WithInsecureLoopback(),
		qualys.WithBackoff(func(int) time.Duration { return 5 * time.Millisecond }), qualys.WithRetry(8, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := car.NewClient(c.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
		car.WithPolling(time.Millisecond, 5*time.Millisecond), car.WithBackoff(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	return carsync.Config{Qualys: qc, CAR: cc, Source: car.Source{Key: "Qualys"}, PageSize: 50}
}

// activeGraph is what CAR holds for the source, reduced to comparable
// facts: active vertex ids per collection and active edges.
func activeGraph(c *cartest.Server) map[string][]string {
	g := c.Graph("Qualys")
	out := map[string][]string{}
	for coll, vs := range g.Vertices {
		for id, v := range vs {
			if v.Active {
				out[coll] = append(out[coll], id)
			}
		}
	}
	for coll, es := range g.Edges {
		for _, e := range es {
			if e.Active {
				out[coll] = append(out[coll], e.From+"->"+e.To)
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// testClock drives Config.Now: runs happen at fixed times and changes made
// between two runs are stamped between them, so no test waits for the wall
// clock to tick past a window's second.
type testClock struct{ now time.Time }

// useClock starts the clock an hour after the generated tenants' base time.
func useClock(cfg *carsync.Config) *testClock {
	c := &testClock{now: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	cfg.Now = func() time.Time { return c.now }
	return c
}

// step moves the clock two hours on and returns a time inside the new
// window, for the changes made before the next run.
func (c *testClock) step() time.Time {
	t := c.now.Add(time.Hour)
	c.now = c.now.Add(2 * time.Hour)
	return t
}

func mustRun(t *testing.T, cfg carsync.Config) *carsync.Summary {
	t.Helper()
	sum, err := carsync.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

func TestInitialThenIncremental(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 120)
	clk := useClock(&e.cfg)
	sum := mustRun(t, e.cfg)
	if sum.Mode != carsync.Full || sum.Hosts != 120 || sum.Vertices < 120 || sum.Edges < 120 {
		t.Fatalf("first run: %+v", sum)
	}
	if _, err := carsync.ParseState(e.c.ModelState("Qualys")); err != nil {
		t.Fatalf("state after a full run: %v", err)
	}
	// API budget: one call per page per API, plus a constant.
	pages := int64((120 + 49) / 50)
	for api, n := range sum.QualysCalls {
		if n > pages+2 {
			t.Errorf("%s: %d calls for %d pages", api, n, pages)
		}
	}

	now := clk.step()
	removed, changed := e.tenant.HostAssets[0], *e.tenant.HostAssets[1]
	e.q.RemoveHostAsset(removed.ID)
	e.q.RemoveDetectionHost(removed.QWebHostID)
	e.q.RemoveAsset(removed.ID)
	oldIP := changed.NetworkInterfaces[0].Address
	changed.NetworkInterfaces = []qualys.NetworkInterface{{Address: "172.16.0.9", MACAddress: changed.NetworkInterfaces[0].MACAddress, InterfaceName: "eth0"}}
	changed.Modified = now
	e.q.AddHostAsset(&changed)
	added := *e.tenant.HostAssets[2]
	added.ID, added.QWebHostID, added.Created, added.Modified = 29000001, 5900001, now, now
	added.NetworkInterfaces = []qualys.NetworkInterface{{Address: "172.16.0.10"}}
	e.q.AddHostAsset(&added)
	// A detection fixed on a host whose asset did not change.
	var fixedHost, fixedQID int64
	for _, h := range e.tenant.Detections {
		if h.ID == changed.QWebHostID || h.ID == removed.QWebHostID || len(h.Detections) == 0 || h.Detections[0].Status == "Fixed" {
			continue
		}
		cp := *h
		cp.Detections = append([]qualys.Detection(nil), h.Detections...)
		cp.Detections[0].Status, cp.Detections[0].LastUpdate = "Fixed", now
		fixedHost, fixedQID = h.ID, cp.Detections[0].QID
		// Keep the QID fixed on every port of that host.
		for i := range cp.Detections {
			if cp.Detections[i].QID == fixedQID {
				cp.Detections[i].Status, cp.Detections[i].LastUpdate = "Fixed", now
			}
		}
		e.q.SetDetectionHost(&cp)
		break
	}

	sum = mustRun(t, e.cfg)
	if sum.Mode != carsync.Incremental || sum.DeletedAssets != 1 || sum.DisabledEdges < 1 {
		t.Fatalf("incremental run: %+v", sum)
	}
	g := e.c.Graph("Qualys")
	id := fmt.Sprint(changed.ID)
	if got := g.ActiveEdges("asset_ipaddress", id); !cmp.Equal(got, []string{"172.16.0.9"}) {
		t.Errorf("changed host's active addresses %v, want only 172.16.0.9 (old %s disabled)", got, oldIP)
	}
	if a := g.Vertices["asset"][fmt.Sprint(removed.ID)]; a == nil || a.Active {
		t.Errorf("removed host still active in CAR")
	}
	if len(g.ActiveEdges("asset_ipaddress", fmt.Sprint(removed.ID))) != 0 {
		t.Error("removed host's edges still active")
	}
	if a := g.Vertices["asset"]["29000001"]; a == nil || !a.Active {
		t.Error("added host missing")
	}
	var fixedAsset int64
	for _, a := range e.tenant.HostAssets {
		if a.QWebHostID == fixedHost {
			fixedAsset = a.ID
		}
	}
	for _, ed := range g.Edges["asset_vulnerability"] {
		if ed.From == fmt.Sprint(fixedAsset) && ed.To == fmt.Sprint(fixedQID) && ed.Active {
			t.Errorf("edge of fixed QID %d on asset %d still active", fixedQID, fixedAsset)
		}
	}
	// Only what changed was sent.
	if sum.Hosts > 5 {
		t.Errorf("incremental run mapped %d hosts, want only the changed ones", sum.Hosts)
	}
}

func TestQuietIncrementalCostsConstantCalls(t *testing.T) {
	t.Parallel()
	var calls []int64
	for _, hosts := range []int{60, 240} {
		e := newEnv(t, hosts)
		clk := useClock(&e.cfg)
		mustRun(t, e.cfg)
		clk.step()
		sum := mustRun(t, e.cfg)
		if sum.Mode != carsync.Incremental || sum.Hosts != 0 {
			t.Fatalf("quiet run: %+v", sum)
		}
		// One call each: changed host assets, changed detections,
		// changed applications, the hosts' scores (Host List, the same
		// scores as CAR's: no host sent), and two QPS counts (not
		// rate-limited).
		if n := sum.TotalQualysCalls(); n > 6 || sum.QualysCalls[qualystest.APIDetections] != 1 || sum.QualysCalls[qualystest.APIHosts] != 1 {
			t.Errorf("%d hosts: a quiet incremental run made %d calls (%v), want 6 at most, 1 detection and 1 Host List call", hosts, n, sum.QualysCalls)
		}
		// IBM's scores: no Host List call at all.
		clk.step()
		e.cfg.RiskScores = carsync.SeverityScores
		if sum := mustRun(t, e.cfg); sum.TotalQualysCalls() > 5 || sum.QualysCalls[qualystest.APIHosts] != 0 {
			t.Errorf("%d hosts: a quiet incremental run with SeverityScores made %v calls", hosts, sum.QualysCalls)
		}
		calls = append(calls, sum.TotalQualysCalls())
	}
	if calls[0] != calls[1] {
		t.Errorf("quiet runs made %v calls for 60 and 240 hosts; want the same constant", calls)
	}
}

func TestFailedRunLosesNothing(t *testing.T) {
	t.Parallel()
	clean := newEnv(t, 150)
	mustRun(t, clean.cfg)
	want := activeGraph(clean.c)

	e := newEnv(t, 150)
	e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 2, DropAfter: 3000})
	e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 3, DropAfter: 3000})
	e.q.InjectFault(qualystest.Fault{API: qualystest.APIDetections, Call: 4, Status: 400, Body: "<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error</TEXT></RESPONSE></SIMPLE_RETURN>"})
	_, err := carsync.Run(context.Background(), e.cfg)
	var qe *qualys.Error
	if !errors.As(err, &qe) {
		t.Fatalf("faulty run: err = %v, want the Qualys error", err)
	}
	if st := e.c.ModelState("Qualys"); st != "" {
		t.Fatalf("a failed run saved state %q", st)
	}
	e.q.ClearFaults()
	mustRun(t, e.cfg)
	if d := cmp.Diff(want, activeGraph(e.c)); d != "" {
		t.Errorf("graph after failure and recovery differs from a clean run (-clean +recovered):\n%s", d)
	}
}

func TestRateLimitStormRiddenOutWithinBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 100, qualystest.WithLimit(qualystest.APIDetections, qualystest.Limit{Calls: 2, Window: time.Second, Concurrency: 1, OmitToWaitFirst: true}))
	sum := mustRun(t, e.cfg)
	if sum.Hosts != 100 {
		t.Fatalf("hosts %d", sum.Hosts)
	}
	if p := e.q.PeakConcurrency(qualystest.APIDetections); p > 1 {
		t.Errorf("peak concurrency %d over the limit 1", p)
	}
	// Pacing from the headers keeps blocked calls to a minimum.
	if n := sum.QualysCalls[qualystest.APIDetections]; n > 2*2+2 {
		t.Errorf("%d detection calls for 2 pages: 409s were not avoided", n)
	}
}

func TestForcedIncrementalWithoutState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	e.cfg.Mode = carsync.Incremental
	if _, err := carsync.Run(context.Background(), e.cfg); !errors.Is(err, carsync.ErrIncrementalNotPossible) {
		t.Fatalf("err = %v", err)
	}
}

func TestPythonConnectorStateContinuesIncrementally(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30)
	e.c.SetModelState("Qualys", "1795340908183.439")
	sum := mustRun(t, e.cfg)
	if sum.Mode != carsync.Incremental || !sum.Since.Equal(time.UnixMilli(1795340908183).UTC()) {
		t.Fatalf("run from a Python state: mode %v since %v", sum.Mode, sum.Since)
	}
	if _, err := carsync.ParseState("not a state"); err == nil {
		t.Error("garbage state parsed")
	}
}

// TestStateReadableByIBMConnector: the state saved is what IBM's connector
// reads (float(epoch milliseconds)), so an operator can switch back; and a
// run continues from it, as from IBM's.
func TestStateReadableByIBMConnector(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30)
	sum := mustRun(t, e.cfg)
	st := e.c.ModelState("Qualys")
	ms, err := strconv.ParseFloat(st, 64) // what the Python connector does with it
	if err != nil || int64(ms) != sum.Until.UnixMilli() {
		t.Fatalf("saved state %q: IBM's connector reads %v (%v), want %d", st, ms, err, sum.Until.UnixMilli())
	}
	next := mustRun(t, e.cfg)
	if next.Mode != carsync.Incremental || !next.Since.Equal(sum.Until.Truncate(time.Millisecond)) {
		t.Errorf("next run: mode %v since %v, want incremental since %v", next.Mode, next.Since, sum.Until)
	}
	// The previous format of this package still reads.
	if got, err := carsync.ParseState("2026-03-01T10:00:00Z"); err != nil || !got.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("RFC 3339 state: %v %v", got, err)
	}
}

func TestCARJobFailureResetsStateAndNextRunIsFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40)
	clk := useClock(&e.cfg)
	mustRun(t, e.cfg)
	e.c.InjectFault(cartest.Fault{Route: "/imports", FailJob: true, Times: 1})
	at := clk.step()
	e.q.AddHostAsset(&qualys.HostAsset{ID: 29500000, Name: "late", Type: "HOST", Created: at, Modified: at})
	_, err := carsync.Run(context.Background(), e.cfg)
	var jf *car.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("err = %v, want a CAR job failure", err)
	}
	if st := e.c.ModelState("Qualys"); st != "" {
		t.Fatalf("state %q after a failed CAR job, want reset", st)
	}
	if sum := mustRun(t, e.cfg); sum.Mode != carsync.Full {
		t.Errorf("next run mode %v, want full", sum.Mode)
	}
}

// TestKilledRunLosesNothing cancels a run in the middle (as a kill or
// Ctrl-C would) and checks that the next run catches up completely.
func TestKilledRunLosesNothing(t *testing.T) {
	t.Parallel()
	clean := newEnv(t, 150)
	mustRun(t, clean.cfg)
	want := activeGraph(clean.c)

	e := newEnv(t, 150)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.q.OnPage(func(api string, page int) {
		if api == qualystest.APIHostAssets && page == 2 {
			cancel()
		}
	})
	if _, err := carsync.Run(ctx, e.cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: err = %v, want context.Canceled", err)
	}
	if st := e.c.ModelState("Qualys"); st != "" {
		t.Fatalf("a killed run saved state %q", st)
	}
	e.q.OnPage(nil)
	mustRun(t, e.cfg)
	if d := cmp.Diff(want, activeGraph(e.c)); d != "" {
		t.Errorf("graph after a killed run and a good one differs (-clean +got):\n%s", d)
	}
}

// TestRefreshVulnerabilities: a KnowledgeBase change to a QID that no
// changed host reports reaches CAR in an incremental run only when asked
// (IBM's -update_existing_vulnerability_cve), keeping CAR's description.
func TestRefreshVulnerabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(time.Hour)
	e.cfg.Now = func() time.Time { return now }
	mustRun(t, e.cfg)
	g := e.c.Graph("Qualys")
	var qid string
	for id := range g.Vertices["vulnerability"] {
		qid = id
		break
	}
	before := g.Vertices["vulnerability"][qid].Fields
	n, _ := strconv.ParseInt(qid, 10, 64)
	for _, v := range e.tenant.KB {
		if v.QID == n {
			cp := *v
			cp.Title = "Retitled by Qualys"
			cp.CVSSV3 = qualys.CVSS{Base: 9.8}
			e.q.Load(&qualystest.Tenant{KB: []*qualys.Vulnerability{&cp}})
		}
	}
	now = now.Add(time.Hour)
	mustRun(t, e.cfg)
	if got := e.c.Graph("Qualys").Vertices["vulnerability"][qid].Fields["name"]; got == "Retitled by Qualys" {
		t.Fatal("refreshed without being asked")
	}
	e.cfg.RefreshVulnerabilities = true
	now = now.Add(time.Hour)
	mustRun(t, e.cfg)
	after := e.c.Graph("Qualys").Vertices["vulnerability"][qid].Fields
	if after["name"] != "Retitled by Qualys" || after["xfr_cvss3_base"] != 9.8 || after["description"] != before["description"] {
		t.Errorf("after refresh: %v (before %v)", after, before)
	}
}

// recordLogs is a slog handler that keeps the records it is given.
type recordLogs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordLogs) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLogs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordLogs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLogs) WithGroup(string) slog.Handler      { return h }

// warnings returns the WARN records as "message attr=value ...".
func (h *recordLogs) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level < slog.LevelWarn {
			continue
		}
		line := r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, line)
	}
	return out
}

// TestUntrustedStateRunsFull: a model state later than the run's start (a
// clock ahead saved it) or one that is not a representable instant never
// starts a window: the run is a full import with a WARN naming the state,
// a host added before the run reaches CAR, and the next run is incremental
// from the state the full run saved. A forced incremental run says why it
// cannot run.
func TestUntrustedStateRunsFull(t *testing.T) {
	t.Parallel()
	for _, st := range []struct{ name, state string }{
		{"24h ahead", ""}, {"10 min ahead", ""}, {"1e300", "1e300"}, {"int64 max", "9223372036854775807"},
		{"Inf", "Inf"}, {"NaN", "NaN"}, {"year 10000", "253402300800000"}, {"RFC 3339 ahead", "2099-01-01T00:00:00Z"},
	} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 20)
			clk := useClock(&e.cfg)
			mustRun(t, e.cfg)
			at := clk.step()
			state := st.state
			switch st.name {
			case "24h ahead":
				state = carsync.FormatState(clk.now.Add(24 * time.Hour))
			case "10 min ahead":
				state = carsync.FormatState(clk.now.Add(10 * time.Minute))
			}
			e.c.SetModelState("Qualys", state)
			e.q.AddHostAsset(&qualys.HostAsset{ID: 29600000, Name: "added", Type: "HOST", Created: at, Modified: at})

			forced := e.cfg
			forced.Mode = carsync.Incremental
			_, err := carsync.Run(context.Background(), forced)
			if !errors.Is(err, carsync.ErrIncrementalNotPossible) || !errors.Is(err, carsync.ErrUnusableState) {
				t.Fatalf("forced incremental run: err = %v, want ErrIncrementalNotPossible and ErrUnusableState", err)
			}

			logs := &recordLogs{}
			e.cfg.Logger = slog.New(logs)
			sum := mustRun(t, e.cfg)
			if sum.Mode != carsync.Full {
				t.Fatalf("mode %v from state %q, want full", sum.Mode, state)
			}
			warned := false
			for _, w := range logs.warnings() {
				if strings.Contains(w, "full import") && strings.Contains(w, clipState(state)) {
					warned = true
				}
			}
			if !warned {
				t.Errorf("no WARN naming state %q and the full import: %q", state, logs.warnings())
			}
			if a := e.c.Graph("Qualys").Vertices["asset"]["29600000"]; a == nil || !a.Active {
				t.Error("the host added before the run is not in CAR")
			}
			clk.step()
			if next := mustRun(t, e.cfg); next.Mode != carsync.Incremental {
				t.Errorf("the run after: mode %v, want incremental", next.Mode)
			}
		})
	}
}

func clipState(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// TestParseStateBounds: representable instants only.
func TestParseStateBounds(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", " ", "null", "{}", "-1", "0", "NaN", "Inf", "-Inf", "1e300", "9223372036854775807", strings.Repeat("9", 400), "253402300800000", "0001-01-01T00:00:00Z"} {
		if got, err := carsync.ParseState(bad); err == nil || !errors.Is(err, carsync.ErrUnusableState) {
			t.Errorf("ParseState(%.20q) = %v, %v; want ErrUnusableState", bad, got, err)
		}
	}
	for in, want := range map[string]time.Time{
		"253402300799999":      time.UnixMilli(253402300799999).UTC(),
		"1795340908183.439":    time.UnixMilli(1795340908183).UTC(),
		"2026-03-01T10:00:00Z": time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := carsync.ParseState(in); err != nil || !got.Equal(want) {
			t.Errorf("ParseState(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
