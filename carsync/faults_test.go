package carsync_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

var faultSeeds = flag.Int("faults.seeds", 6, "number of seeded fault-injection runs (go test ./carsync -run Fault -faults.seeds=200 for a long run)")

const simple1960 = `<SIMPLE_RETURN><RESPONSE><CODE>1960</CODE><TEXT>This API cannot be run again until 1 currently running API instance has finished.</TEXT></RESPONSE></SIMPLE_RETURN>`
const simple1965 = `<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>This API cannot be run again for another 1 seconds.</TEXT><ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>1</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`
const simple999 = `<SIMPLE_RETURN><RESPONSE><CODE>999</CODE><TEXT>Internal error. Please contact customer support.</TEXT></RESPONSE></SIMPLE_RETURN>`

// injectRandomFaults adds 2 to 5 faults drawn from every kind the peers'
// users report, and returns their kinds.
func injectRandomFaults(rng *rand.Rand, q *qualystest.Server, c *cartest.Server) []string {
	qAPIs := []string{qualystest.APIDetections, qualystest.APIHostAssets, qualystest.APIKnowledgeBase, qualystest.APIGatewayAssets}
	var kinds []string
	for range 2 + rng.IntN(4) {
		api := qAPIs[rng.IntN(len(qAPIs))]
		call := 1 + rng.IntN(3)
		switch kind := rng.IntN(11); kind {
		case 0:
			q.InjectFault(qualystest.Fault{Name: "409 without ToWait-Sec", API: qualystest.APIDetections, Call: call, Status: 409, Body: simple1960})
		case 1:
			q.InjectFault(qualystest.Fault{Name: "409 with ToWait-Sec", API: qualystest.APIDetections, Call: call, Status: 409, Body: simple1965,
				Header: http.Header{"X-Ratelimit-Towait-Sec": {"1"}}})
		case 2:
			for k := range 3 {
				q.InjectFault(qualystest.Fault{Name: "503 burst", API: api, Call: call + k, Status: 503})
			}
		case 3:
			q.InjectFault(qualystest.Fault{Name: "connection cut mid-body", API: api, Call: call, DropAfter: 200 + rng.IntN(20000)})
		case 4:
			q.InjectFault(qualystest.Fault{Name: "slow body", API: api, Call: call, SlowBody: time.Millisecond})
		case 5:
			q.InjectFault(qualystest.Fault{Name: "HTML maintenance page", API: api, Call: call, HTML: true, Status: []int{200, 503}[rng.IntN(2)]})
		case 6:
			q.InjectFault(qualystest.Fault{Name: "200 with an error body", API: qualystest.APIDetections, Call: call, Status: 200, Body: simple999})
		case 7:
			c.InjectFault(cartest.Fault{Name: "CAR job fails", Route: "/imports", Call: 2 + rng.IntN(8), FailJob: true})
		case 8:
			c.InjectFault(cartest.Fault{Name: "CAR job stalls", Route: "/imports", Call: 2 + rng.IntN(8), StallJob: 4})
		case 9:
			c.InjectFault(cartest.Fault{Name: "CAR 503", Route: "/imports", Call: 2 + rng.IntN(8), Status: 503})
		case 10:
			c.InjectFault(cartest.Fault{Name: "CAR 503 on status", Route: "/importstatus", Call: 1 + rng.IntN(5), Status: 503})
		}
	}
	return kinds
}

// TestFaultInjection runs the connector engine against fakes with seeded
// random faults, each seed with and without Sequential. For each seed, either the run succeeds and CAR's graph
// equals the graph of a fault-free run, or it fails with a typed error and
// the following fault-free run makes the graph equal.
func TestFaultInjection(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault-injection suite")
	}
	const hosts = 120
	limit := qualystest.Limit{Calls: 8, Window: time.Second, Concurrency: 1, OmitToWaitFirst: true}
	clean := newEnv(t, hosts, qualystest.WithLimit(qualystest.APIDetections, limit))
	mustRun(t, clean.cfg)
	want := activeGraph(clean.c)

	var runs, recovered, repaired, lost, extra, refusals, peak int
	fired := map[string]int{}
	for run := 0; run < 2**faultSeeds; run++ {
		// Each seed twice: one call at a time, then concurrently (the default).
		seed, overlap := run/2+1, run%2 == 1
		e := newEnv(t, hosts, qualystest.WithLimit(qualystest.APIDetections, limit))
		e.cfg.Sequential = !overlap
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		injectRandomFaults(rng, e.q, e.c)
		runs++
		_, err := carsync.Run(context.Background(), e.cfg)
		if err == nil {
			recovered++
		} else {
			var qe *qualys.Error
			var qd *qualys.DecodeError
			var ce *car.Error
			var jf *car.JobFailedError
			if !errors.As(err, &qe) && !errors.As(err, &qd) && !errors.As(err, &ce) && !errors.As(err, &jf) {
				t.Errorf("seed %d (overlap %v): untyped failure %T: %v", seed, overlap, err, err)
			}
			if len(err.Error()) > 2000 || !strings.HasPrefix(err.Error(), "carsync:") {
				t.Errorf("seed %d (overlap %v): unclear error %q", seed, overlap, err)
			}
			e.q.ClearFaults()
			e.c.ClearFaults()
			if _, err := carsync.Run(context.Background(), e.cfg); err != nil {
				t.Fatalf("seed %d (overlap %v): the fault-free run after a failure failed: %v", seed, overlap, err)
			}
			repaired++
		}
		firedHere := 0
		for _, n := range e.q.FaultsFired() {
			firedHere += n
		}
		for _, n := range e.c.FaultsFired() {
			firedHere += n
		}
		if firedHere == 0 {
			t.Errorf("seed %d (overlap %v): none of the injected faults fired: the run tested nothing", seed, overlap)
		}
		got := activeGraph(e.c)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("seed %d (overlap %v): CAR graph differs from a fault-free run (-want +got):\n%s", seed, overlap, d)
		}
		l, x := diffCounts(want, got)
		lost += l
		extra += x
		for k, v := range e.q.FaultsFired() {
			fired[k] += v
		}
		for k, v := range e.c.FaultsFired() {
			fired[k] += v
		}
		refusals += e.q.Refusals(qualystest.APIDetections)
		peak = max(peak, e.q.PeakConcurrency(qualystest.APIDetections))
	}
	var kinds []string
	for k, v := range fired {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(kinds)
	t.Logf("fault injection: %d runs, faults fired by kind: %s", runs, strings.Join(kinds, ", "))
	t.Logf("fault injection: %d runs succeeded despite faults, %d failed with a typed error and were repaired by the next run; objects lost = %d, duplicates = %d; detection API: peak concurrency %d (limit %d), %d calls refused by the limits",
		recovered, repaired, lost, extra, peak, limit.Concurrency, refusals)
	if peak > limit.Concurrency {
		t.Errorf("concurrency limit exceeded: %d > %d", peak, limit.Concurrency)
	}
	if lost != 0 || extra != 0 {
		t.Errorf("objects lost %d, duplicates %d", lost, extra)
	}
}

// diffCounts counts objects missing from got and objects got has in excess.
func diffCounts(want, got map[string][]string) (lost, extra int) {
	for coll, ids := range want {
		have := map[string]int{}
		for _, id := range got[coll] {
			have[id]++
		}
		for _, id := range ids {
			if have[id] == 0 {
				lost++
			} else {
				have[id]--
			}
		}
		for _, n := range have {
			extra += n
		}
	}
	for coll, ids := range got {
		if _, ok := want[coll]; !ok {
			extra += len(ids)
		}
	}
	return lost, extra
}

// TestNoSearchListLeftBehindUnderFaults runs the vulnerable-hosts flow with
// seeded faults on the search list and detection APIs: no list is ever left
// behind, and when deleting one fails for good, the error names it.
func TestNoSearchListLeftBehindUnderFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault-injection suite")
	}
	named := 0
	for seed := 1; seed <= *faultSeeds*2; seed++ {
		tenant := qualystest.Generate(int64(seed), 30, qualystest.WithVulnerableTo("CVE-2019-17053", 0.3))
		q := qualystest.NewServer(qualystest.WithTenant(tenant))
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		for range 1 + rng.IntN(3) {
			api := []string{qualystest.APISearchLists, qualystest.APIDetections}[rng.IntN(2)]
			switch rng.IntN(4) {
			case 0:
				q.InjectFault(qualystest.Fault{API: api, Call: 1 + rng.IntN(3), Status: 503})
			case 1:
				q.InjectFault(qualystest.Fault{API: api, Call: 1 + rng.IntN(3), Status: 409, Body: simple1960})
			case 2:
				q.InjectFault(qualystest.Fault{API: api, Call: 1 + rng.IntN(3), DropAfter: 300})
			case 3:
				q.InjectFault(qualystest.Fault{API: api, Call: 1 + rng.IntN(3), Status: 400, Body: simple999})
			}
		}
		user, pass := q.Credentials()
		c, _ := qualys.NewClient(q.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(), qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }))
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		n := 0
		for _, e := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
			if e != nil {
				err = e
				break
			}
			if n++; rng.IntN(5) == 0 {
				cancel() // Ctrl-C in the middle
			}
		}
		cancel()
		left := q.SearchLists()
		if len(left) > 0 {
			// Left behind only when deleting failed for good: the error
			// must name the list (by id, or by title when Qualys never
			// said the id).
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("id %d", left[0])) && !strings.Contains(err.Error(), "delete it by hand") {
				t.Errorf("seed %d: list %v left behind; err %v does not name it", seed, left, err)
			}
			named++
		}
		q.Close()
	}
	t.Logf("vulnerable-hosts flow under faults: %d runs, %d lists left behind (each named in the error)", *faultSeeds*2, named)
}
