package car_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// Stream a graph into CAR: a full import, one Add per host, Close to wait
// for the jobs and save the checkpoint.
func ExampleClient_NewImport() {
	srv := cartest.NewServer()
	defer srv.Close()
	c, err := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	im, err := c.NewImport(ctx, car.Source{Key: "Qualys", Name: "Qualys"}, car.Full, car.WithModelStateID("2026-03-01T00:00:00Z"))
	if err != nil {
		panic(err)
	}
	err = im.Add(context.Background(), car.Graph{
		Vertices: []car.Vertex{&car.Asset{ExternalID: "31000001", Name: "web-01"}, &car.IPAddress{Key: "10.20.30.40"}},
		Edges:    []car.Edge{{Collection: "asset_ipaddress", From: "31000001", To: "10.20.30.40"}},
	})
	if err != nil {
		panic(err)
	}
	sum, err := im.Close(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(sum.Objects["asset"], sum.Objects["asset_ipaddress"], srv.ModelState("Qualys"))
	// Output: 1 1 2026-03-01T00:00:00Z
}

// Ask CAR's GraphQL API: Query decodes a small answer into a struct;
// QueryItems streams a large list one item at a time.
func ExampleClient_Query() {
	srv := cartest.NewServer()
	defer srv.Close()
	c, err := srv.NewClient()
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	im, _ := c.NewImport(ctx, car.Source{Key: "Qualys"}, car.Full)
	im.Add(ctx, car.Graph{Vertices: []car.Vertex{&car.Asset{ExternalID: "1", Name: "web-01"}, &car.Asset{ExternalID: "2", Name: "db-01"}}})
	if _, err := im.Close(ctx); err != nil {
		panic(err)
	}

	var out struct {
		Asset []struct {
			ExternalID string `json:"external_id"`
			Name       string `json:"name"`
		} `json:"asset"`
	}
	if err := c.Query(ctx, `{ asset(where: {name: {_eq: "db-01"}}) { external_id, name } }`, &out); err != nil {
		panic(err)
	}
	fmt.Println(out.Asset[0].ExternalID, out.Asset[0].Name)

	n := 0
	for _, err := range c.QueryItems(ctx, `{ asset(where: {source: {_eq: "Qualys"}}) { external_id } }`, "asset") {
		if err != nil {
			panic(err)
		}
		n++
	}
	fmt.Println("assets:", n)
	// Output:
	// 2 db-01
	// assets: 2
}
