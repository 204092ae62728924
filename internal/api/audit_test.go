package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
)

// auditServer is hotServer with an audit trail into w, running until the test ends.
func auditServer(tb testing.TB, w io.Writer) (*Server, string, func()) {
	tb.Helper()
	s, key := hotServer(tb)
	tr := audit.New(audit.Options{Replica: "bench", Sinks: []audit.Sink{audit.NewJSONLines(w)},
		Counters: audit.NewCounters(prometheus.NewRegistry(), 0), Queue: 1 << 16})
	s.audit = tr
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	stop := func() { cancel(); wg.Wait() }
	tb.Cleanup(stop)
	return s, key, stop
}

// BenchmarkTokenHotPathAudit is BenchmarkTokenHotPath with the audit trail on (JSON lines
// to io.Discard and the counters): the issue asks for at least 0.95 of its throughput.
//
//	go test -run '^$' -bench 'TokenHotPath$|TokenHotPathAudit' -benchmem ./internal/api/
func BenchmarkTokenHotPathAudit(b *testing.B) {
	benchmarkHotPath(b, func(tb testing.TB) (*Server, string) {
		s, key, _ := auditServer(tb, io.Discard)
		return s, key
	})
}

// TestTokenHotPathAllocationsWithAudit: recording a cached token read adds no allocation
// to the request (the record is copied into the trail's queue). The trail's goroutine is
// not started, so only the request's allocations are counted.
func TestTokenHotPathAllocationsWithAudit(t *testing.T) {
	s, key := hotServer(t)
	s.audit = audit.New(audit.Options{Replica: "test", Queue: 1 << 12})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	w := &discard{h: http.Header{}}
	s.ServeHTTP(w, req)
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, req)
	})
	if allocs > 1 {
		t.Errorf("a cached token request with the audit trail on makes %.0f allocations, want at most 1 (net/http's path match)", allocs)
	}
}

// TestTokenReadsAreAudited: a read, a refused key, a connection the key may not use and an
// unknown connection each leave one record with the right outcome and reason, and none holds
// the API key's secret.
func TestTokenReadsAreAudited(t *testing.T) {
	var buf bytes.Buffer
	s, key, stop := auditServer(t, &buf)
	ask := func(name, k string) {
		req, _ := http.NewRequest(http.MethodGet, "/v1/connections/"+name+"/token", nil)
		req.Header.Set("Authorization", "Bearer "+k)
		s.ServeHTTP(&discard{h: http.Header{}}, req)
	}
	ask("c", key)
	ask("c", key+"x")
	ask("other", key)
	st := s.keys.ks.(*flakyKeys)
	st.rec.Connections = append(st.rec.Connections, "missing")
	s.KeyChanged(st.rec.ID)
	ask("missing", key)
	stop()
	if strings.Contains(buf.String(), key[strings.LastIndex(key, "_")+1:]) {
		t.Fatalf("the audit stream holds the API key's secret: %s", buf.String())
	}
	var got []string
	for l := range strings.Lines(buf.String()) {
		var m struct {
			Caller     audit.Caller
			Connection string
			Action     string
			Outcome    string
			Reason     string
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Caller.ID+" "+m.Connection+" "+m.Action+" "+m.Outcome+" "+m.Reason)
	}
	id := st.rec.ID
	want := []string{id + " c token.read success ", " c token.read denied unauthenticated",
		id + " other token.read denied forbidden", id + " missing token.read failure not_found"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkTokenHTTPAudit is the cached token request over HTTP (keep-alive, parallel
// clients, net/http's server), with the audit trail off and on (JSON lines to io.Discard
// and the counters): the issue asks that audit on keeps at least 0.95 of the throughput.
//
//	go test -run '^$' -bench TokenHTTPAudit ./internal/api/
func BenchmarkTokenHTTPAudit(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s, key := hotServer(b)
			if on {
				s, key, _ = auditServer(b, io.Discard)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/connections/c/token", nil)
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
