package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHotPathAgainstBareHandler compares, in one run over loopback TCP with keep-alive
// clients, the throughput of the token route (API key, cached token with metadata and an API
// base URL) with a bare net/http handler that writes the same bytes and headers, and with
// the route for a connection without metadata. A lighter stand-in for
// scripts/bench-tokend.sh on a shared machine: the servers and the load run in this process.
// It asserts nothing about time; set TAILOR_HOTPATH_COMPARE=1 to run it:
//
//	TAILOR_HOTPATH_COMPARE=1 go test -count=1 -run TestHotPathAgainstBareHandler -v ./internal/api/
func TestHotPathAgainstBareHandler(t *testing.T) {
	if os.Getenv("TAILOR_HOTPATH_COMPARE") == "" {
		t.Skip("set TAILOR_HOTPATH_COMPARE=1 to run the comparison")
	}
	withMD, key := hotServerWith(t, qbMetadata, qbBase)
	plain, plainKey := hotServer(t)
	mdSrv, plainSrv := httptest.NewServer(withMD), httptest.NewServer(plain)
	defer mdSrv.Close()
	defer plainSrv.Close()
	body, hdr := fetch(t, mdSrv.URL, key)
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range hdr {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
	defer bare.Close()
	targets := []struct {
		name, url, key string
		total          float64
	}{
		{name: "bare net/http handler, same bytes and headers", url: bare.URL, key: key},
		{name: "tokend token route, with metadata", url: mdSrv.URL, key: key},
		{name: "tokend token route, without metadata", url: plainSrv.URL, key: plainKey},
	}
	const rounds, conc, dur = 3, 8, 2 * time.Second
	for range rounds { // interleaved, so that drift on a shared machine hits every target alike
		for i := range targets {
			targets[i].total += closedLoop(targets[i].url+"/v1/connections/c/token", targets[i].key, conc, dur)
		}
	}
	t.Logf("body %d bytes; %d rounds of %s, %d keep-alive clients", len(body), rounds, dur, conc)
	for _, tg := range targets {
		t.Logf("%-50s %9.0f requests/s (%.1f%% of bare)", tg.name, tg.total/rounds, 100*tg.total/targets[0].total)
	}
}

// fetch returns the token answer's body and headers at base.
func fetch(t *testing.T, base, key string) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/connections/c/token", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token answer: %v %v", resp, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	h.Del("Date")
	return b, h
}

// closedLoop sends GETs to u from conc clients for d and returns the requests per second
// answered 200.
func closedLoop(u, key string, conc int, d time.Duration) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			for ctx.Err() == nil {
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}
