package proxy

import (
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
)

// streamSize is 100 MiB, or 1 GiB with TAILOR_PROXY_GIB=1.
func streamSize() int64 {
	if os.Getenv("TAILOR_PROXY_GIB") == "1" {
		return 1 << 30
	}
	return 100 << 20
}

// zeros reads n zero bytes.
type zeros struct{ n int64 }

func (z *zeros) Read(b []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > z.n {
		b = b[:z.n]
	}
	clear(b)
	z.n -= int64(len(b))
	return len(b), nil
}

// heapPeak samples the heap in use every few milliseconds until stop is called, and returns
// the growth of its peak over the heap before.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		if p := peak.Load(); p > before {
			return p - before
		}
		return 0
	}
}

// maxHeapGrowth is the bound on the heap's growth while a stream passes (the issue asks for
// RSS growth under 32 MiB for 1 GiB).
const maxHeapGrowth = 32 << 20

func TestLargeDownloadStreamsInConstantMemory(t *testing.T) {
	n := streamSize()
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, &zeros{n: n})
	}), "")
	stop := heapPeak()
	start := time.Now()
	resp := b.do("GET", "/download", nil, nil)
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	growth := stop()
	if err != nil || got != n {
		t.Fatalf("read %d of %d bytes: %v", got, n, err)
	}
	t.Logf("download of %d MiB: heap growth %.1f MiB, %.0f MiB/s", n>>20, float64(growth)/(1<<20), float64(n>>20)/time.Since(start).Seconds())
	if growth > maxHeapGrowth {
		t.Fatalf("heap grew by %d bytes", growth)
	}
	if rec := b.rec.nth(t, 1); rec.BytesOut != n {
		t.Fatalf("audit bytes out %d", rec.BytesOut)
	}
}

func TestLargeUploadStreamsInConstantMemory(t *testing.T) {
	n := streamSize()
	var received atomic.Int64
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := io.Copy(io.Discard, r.Body)
		received.Store(c)
	}), "")
	stop := heapPeak()
	start := time.Now()
	req, _ := http.NewRequest("PUT", b.server.URL+"/v1/connections/conn/proxy/upload", &zeros{n: n})
	req.ContentLength = n
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	growth := stop()
	if resp.StatusCode != 200 || received.Load() != n {
		t.Fatalf("status %d, upstream received %d of %d bytes", resp.StatusCode, received.Load(), n)
	}
	t.Logf("upload of %d MiB: heap growth %.1f MiB, %.0f MiB/s", n>>20, float64(growth)/(1<<20), float64(n>>20)/time.Since(start).Seconds())
	if growth > maxHeapGrowth {
		t.Fatalf("heap grew by %d bytes", growth)
	}
	if rec := b.rec.nth(t, 1); rec.BytesIn != n {
		t.Fatalf("audit bytes in %d", rec.BytesIn)
	}
}

// TestCallerLeavingMidStreamIsRecorded: a caller that leaves in the middle of a streamed
// answer (the ReverseProxy then aborts the handler) still makes the call's one audit record:
// failure, stream_aborted, with the upstream's status and the bytes sent until then.
func TestCallerLeavingMidStreamIsRecorded(t *testing.T) {
	b := newBed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // until tokend gives the call up
	}), "")
	resp := b.do("GET", "/events", nil, nil)
	buf := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // before the end: the connection closes
	rec := b.rec.nth(t, 1)
	if rec.Action != audit.ProxyCall || rec.Outcome != audit.Failure || rec.Reason != reasonStreamAborted ||
		rec.UpstreamStatus != 200 || rec.BytesOut != int64(len(buf)) || rec.Attempts != 1 {
		t.Fatalf("record of a call cut short: %+v", rec)
	}
}
