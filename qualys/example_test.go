package qualys_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"

	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

func exampleClient() (*qualys.Client, func()) {
	srv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 20, qualystest.WithVulnerableTo("CVE-2019-17053", 0.5))))
	user, pass := srv.Credentials()
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(srv.GatewayURL), qualys.WithInsecureLoopback())
	if err != nil {
		panic(err)
	}
	return c, srv.Close
}

// Stream every host asset updated since a time, each exactly once.
func ExampleHostAssetService_List() {
	c, done := exampleClient()
	defer done()
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for h, err := range c.HostAssets.List(context.Background(), &qualys.HostAssetQuery{UpdatedSince: since}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		n++
		_ = h.NetworkInterfaces
	}
	fmt.Println("host assets:", n)
	// Output: host assets: 20
}

// List installed applications per asset from the gateway.
func ExampleAssetService_List() {
	c, done := exampleClient()
	defer done()
	for a, err := range c.Assets.List(context.Background(), nil) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(a.AssetID, len(a.Software) > 0)
		break
	}
	// Output: 20000000 true
}

// Stream detections for a page of hosts; memory stays per host.
func ExampleDetectionService_List() {
	c, done := exampleClient()
	defer done()
	detections := 0
	for h, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{
		Status:   []qualys.DetectionStatus{qualys.StatusNew, qualys.StatusActive, qualys.StatusReOpened, qualys.StatusFixed},
		ShowTags: qualys.Bool(true),
	}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		detections += len(h.Detections)
	}
	fmt.Println(detections > 0)
	// Output: true
}

// The ThreatQ operation's flow: hosts vulnerable to a CVE; the temporary
// search list is deleted however the loop ends.
func ExampleClient_VulnerableHosts() {
	c, done := exampleClient()
	defer done()
	for h, err := range c.VulnerableHosts(context.Background(), &qualys.VulnerableHostsQuery{
		CVEs:        []string{"CVE-2019-17053"},
		MinSeverity: 3,
	}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(h.ID, h.Detections[0].QID)
		break
	}
	// Output: 5000000 38170
}

// A private certificate authority (a proxy that inspects TLS, an
// appliance's own CA) is trusted by giving the client an HTTP client whose
// pool holds it, with verification kept on. The car and threatq clients
// take the same WithHTTPClient.
func ExampleWithHTTPClient() {
	pemBytes, err := os.ReadFile("/etc/qualysbridge/private-ca.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(pemBytes)
	hc := cleanhttp.DefaultPooledClient()
	hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	c, err := qualys.NewClient("https://qualysapi.qg3.apps.qualys.com",
		qualys.WithCredentials("apiuser", os.Getenv("QUALYS_PASSWORD")), qualys.WithHTTPClient(hc))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c
}

// Look KnowledgeBase entries up by QID; an unknown QID is simply absent.
func ExampleKnowledgeBaseService_Get() {
	c, done := exampleClient()
	defer done()
	kb, err := c.KnowledgeBase.Get(context.Background(), []int64{38170, 1})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	v := kb[38170]
	fmt.Println(len(kb), v.Severity, v.CVEs[0].ID)
	// Output: 1 4 CVE-2019-17053
}

// Stream the KnowledgeBase entries modified since a date, with the QIDs
// alone (DetailsNone): the cheapest way to learn what changed.
func ExampleKnowledgeBaseService_List() {
	c, done := exampleClient()
	defer done()
	n := 0
	q := &qualys.KnowledgeBaseQuery{Details: qualys.DetailsNone, LastModifiedAfter: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	for v, err := range c.KnowledgeBase.List(context.Background(), q) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if v.QID > 0 && v.Title == "" {
			n++
		}
	}
	fmt.Println(n > 0)
	// Output: true
}

// Create a dynamic search list for a CVE, read its QIDs, delete it.
// VulnerableHosts does all of this for you, deleting the list whatever
// happens.
func ExampleSearchListService_CreateDynamic() {
	c, done := exampleClient()
	defer done()
	ctx := context.Background()
	id, err := c.SearchLists.CreateDynamic(ctx, &qualys.DynamicSearchList{Title: "example CVE-2019-17053", CVEIDs: []string{"CVE-2019-17053"}})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer c.SearchLists.Delete(ctx, id)
	for l, err := range c.SearchLists.List(ctx, &qualys.SearchListQuery{IDs: []int64{id}}) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(l.Title, l.QIDs)
	}
	// Output: example CVE-2019-17053 [38170]
}
