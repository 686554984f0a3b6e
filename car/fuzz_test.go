package car_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/car/cartest"
)

// FuzzValidate checks the client's validator against the fake's schema
// rules: whatever the client accepts, the server must accept too, and the
// validator never panics.
func FuzzValidate(f *testing.F) {
	f.Add("31000001", "web-01", "10.0.0.1", "02:00:00:00:00:01", "web-01.corp.example", "root", "us-east-1", 4.0)
	f.Add("", " ", "fe80::1", "0000.1111.2222", "a|b", "", "", -1.0)
	srv := cartest.NewServer(cartest.WithJobPolls(0))
	f.Cleanup(srv.Close)
	c, err := car.NewClient(srv.URL, car.WithAPIKey(cartest.DefaultAPIKey, cartest.DefaultPassword), car.WithInsecureLoopback(),
		car.WithPolling(time.Millisecond, time.Millisecond), car.WithRetry(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, name, ip, mac, host, user, region string, score float64) {
		vertices := []car.Vertex{
			&car.Asset{ExternalID: id, Name: name},
			&car.IPAddress{Key: ip},
			&car.MACAddress{Key: mac},
			&car.Hostname{Key: host, HostName: name},
			&car.Account{ExternalID: user, Name: user},
			&car.User{ExternalID: user},
			&car.Geolocation{ExternalID: region, Region: region},
			&car.Vulnerability{ExternalID: id, Name: name, BaseScore: &score},
		}
		for _, v := range vertices {
			if v.Validate() != nil {
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.PostImport(context.Background(), &car.Envelope{Source: car.Source{Key: "Fuzz"}, Report: car.Report{Key: "1", Timestamp: 1},
				Collection: v.Collection(), Objects: []json.RawMessage{raw}})
			var ce *car.Error
			if errors.As(err, &ce) && ce.Code == "data_mal_formed" {
				t.Fatalf("the client accepted %s %q but the server's schema rules refuse it: %s", v.Collection(), v.ID(), ce.Message)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		e := car.Edge{Collection: "asset_ipaddress", From: id, To: ip}
		_ = e.Validate()
	})
}
