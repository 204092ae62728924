package audit

import (
	"context"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkTrailWrite is the work of the Trail's goroutine for one token read: counting it
// and writing its JSON line.
//
//	go test -run '^$' -bench TrailWrite -benchmem ./internal/audit/
func BenchmarkTrailWrite(b *testing.B) {
	tr := New(Options{Replica: "r1", Sinks: []Sink{NewJSONLines(io.Discard)}, Counters: NewCounters(prometheus.NewRegistry(), 0)})
	r := Record{Caller: Caller{Kind: CallerAPIKey, ID: "k1", Description: "billing"}, Connection: "crm", Action: TokenRead, Outcome: Success}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tr.write(ctx, &r)
	}
}
