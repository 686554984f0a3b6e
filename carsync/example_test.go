package carsync_test

import (
	"context"
	"fmt"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// The connector's engine against the fakes: the first run is full, the
// next incremental.
func ExampleRun() {
	qsrv := qualystest.NewServer(qualystest.WithTenant(qualystest.Generate(1, 30)))
	defer qsrv.Close()
	csrv := cartest.NewServer()
	defer csrv.Close()
	user, pass := qsrv.Credentials()
	qc, _ := qualys.NewClient(qsrv.URL, qualys.WithCredentials(user, pass), qualys.WithGateway(qsrv.GatewayURL), qualys.WithInsecureLoopback())
	cc, _ := car.NewClient(csrv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback())
	cfg := carsync.Config{Qualys: qc, CAR: cc, Source: car.Source{Key: "Qualys"}}

	for i := 0; i < 2; i++ {
		sum, err := carsync.Run(context.Background(), cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(sum.Mode, sum.Hosts)
	}
	// Output:
	// full 30
	// incremental 0
}
