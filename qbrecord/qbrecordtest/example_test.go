package qbrecordtest_test

import (
	"context"
	"testing"

	"github.com/qualysbridge/qualysbridge/qbrecord/qbrecordtest"
	"github.com/qualysbridge/qualysbridge/qualys"
)

// A test that replays testdata/detections.qbrec (recorded once with
// QBRECORD=record go test ./..., against your subscription: the cassette
// holds no credential and no host name but the placeholder's).
func ExampleForTest() {
	testDetections := func(t *testing.T) {
		rec := qbrecordtest.ForTest(t, "testdata/detections")
		// Replaying, any credentials do; recording, give real ones.
		c, err := qualys.NewClient("https://qualysapi.qualys.com", qualys.WithCredentials("apiuser", "secret"),
			qualys.WithHTTPClient(rec.Client()))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, err := range c.Detections.List(context.Background(), &qualys.DetectionQuery{MinSeverity: 4}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 0 {
			t.Error("no host with a severity 4 or 5 detection")
		}
	}
	_ = testDetections // func TestDetections(t *testing.T) in your _test.go file
}
