package cartest_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// A test of code that writes to CAR: point a car.Client at the fake, write,
// and look at the graph the fake holds.
func Example() {
	srv := cartest.NewServer()
	defer srv.Close()
	c, _ := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())
	ctx := context.Background()

	im, err := c.NewImport(ctx, car.Source{Key: "Demo"}, car.Full)
	if err != nil {
		fmt.Println(err)
		return
	}
	im.Add(context.Background(), car.Graph{
		Vertices: []car.Vertex{&car.Asset{ExternalID: "1", Name: "web-01"}, &car.IPAddress{Key: "10.0.0.1"}},
		Edges:    []car.Edge{{Collection: "asset_ipaddress", From: "1", To: "10.0.0.1"}},
	})
	if _, err := im.Close(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	g := srv.Graph("Demo")
	fmt.Println(len(g.Vertices["asset"]), g.ActiveEdges("asset_ipaddress", "1"), srv.ModelState("Demo") != "")
	// Output: 1 [10.0.0.1] true
}

// Inject CAR's failures: here the first import request answers 503 with a
// Retry-After; the client waits and sends it again, and FaultsFired
// proves the test met the fault.
func Example_faults() {
	srv := cartest.NewServer()
	defer srv.Close()
	srv.InjectFault(cartest.Fault{Name: "maintenance", Method: "POST", Route: "/imports", Call: 1,
		Status: 503, Header: http.Header{"Retry-After": {"0"}}, Body: `{"errors":[{"message":"maintenance"}]}`})
	c, _ := srv.NewClient()
	ctx := context.Background()
	im, _ := c.NewImport(ctx, car.Source{Key: "Demo"}, car.Full)
	im.Add(ctx, car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: "1", Name: "web-01"}}})
	sum, err := im.Close(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sum.Objects["asset"], srv.FaultsFired()["maintenance"], len(srv.Graph("Demo").Vertices["asset"]))
	// Output: 1 1 1
}
