package car_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/qualysbridge/qualysbridge/car"
)

// BenchmarkEnvelopeEncoding measures encoding one full import request:
// 2,000 edges (the batch limit) with their source and report.
func BenchmarkEnvelopeEncoding(b *testing.B) {
	objs := make([]json.RawMessage, 0, car.MaxBatch)
	for i := range car.MaxBatch {
		e := car.Edge{Collection: "asset_ipaddress", From: fmt.Sprint(31000000 + i), To: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Source: "Qualys",
			Properties: map[string]any{"report": "1795340908183.439", "timestamp": 1795340908183.439}}
		raw, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, raw)
	}
	env := &car.Envelope{Source: car.Source{Key: "Qualys"}, Report: car.Report{Key: "1795340908183.439", Timestamp: 1795340908183.439}, Collection: "asset_ipaddress", Objects: objs}
	out, _ := env.MarshalJSON()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := env.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEdgeMarshal measures encoding one edge as the import schema
// wants it.
func BenchmarkEdgeMarshal(b *testing.B) {
	e := car.Edge{Collection: "asset_vulnerability", From: "31000001", To: "38170", Source: "Qualys", Properties: map[string]any{"risk_score": 4}}
	b.ReportAllocs()
	for range b.N {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}
