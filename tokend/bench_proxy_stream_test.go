package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// streamResult is one transfer: its size and time, and the proxy's memory around it (KiB;
// zero when no proxy is on the path).
type streamResult struct {
	n            int64
	dur          time.Duration
	rss0, rssMax int // VmRSS before, and the largest sample during the transfer
	hwm0, hwm1   int // VmHWM before and after
}

func (s streamResult) mibps() float64 { return float64(s.n) / (1 << 20) / s.dur.Seconds() }

// watchRSS samples pid's VmRSS every 50 ms until stop is closed, then sends the largest.
func watchRSS(pid int, stop <-chan struct{}) <-chan int {
	peak := make(chan int, 1)
	go func() {
		m := 0
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			m = max(m, rssKB(pid))
			select {
			case <-stop:
				peak <- max(m, rssKB(pid))
				return
			case <-tk.C:
			}
		}
	}()
	return peak
}

// streamPath is one way to the local API's transfer routes.
type streamPath struct {
	name, base string // base + "/v1/download/N" or "/v1/upload"
	h          http.Header
	pid        int // the proxy on the path, whose memory is watched (0: none)
}

// transfer downloads (GET base/v1/download/n) or uploads (PUT base/v1/upload, n generated
// bytes with a Content-Length, so the proxy streams it) through p, and checks that all n
// bytes went through.
func transfer(t *testing.T, hc *http.Client, p streamPath, upload bool, n int64) streamResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/v1/download/"+strconv.FormatInt(n, 10), nil)
	if upload {
		req, _ = http.NewRequest(http.MethodPut, p.base+"/v1/upload", io.LimitReader(patternReader{}, n))
		req.ContentLength = n
	}
	req.Header = p.h.Clone()
	r := streamResult{n: n}
	stop := make(chan struct{})
	var peak <-chan int
	if p.pid != 0 {
		r.rss0, r.hwm0 = rssKB(p.pid), statusKB(p.pid, "VmHWM:")
		peak = watchRSS(p.pid, stop)
	}
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, p.name, err)
	}
	got, err := drain(resp.Body)
	resp.Body.Close()
	r.dur = time.Since(t0)
	close(stop)
	if p.pid != 0 {
		r.rssMax, r.hwm1 = <-peak, statusKB(p.pid, "VmHWM:")
	}
	want := n
	if upload {
		want = int64(len(fmt.Sprintf(`{"bytes":%d}`, n)))
	}
	if err != nil || resp.StatusCode != 200 || got != want {
		t.Fatalf("%s %s: %d, %d of %d bytes: %v", req.Method, p.name, resp.StatusCode, got, want, err)
	}
	return r
}

// drain reads r to its end in 64 KiB reads and returns the byte count.
func drain(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// benchStreaming measures downloads and uploads of cfg.streamBytes directly and through
// tokend's proxy (the stream process, which serves nothing else), interleaved, with
// tokend's memory during each.
func benchStreaming(t *testing.T, out func(string, ...any), b *proxyBed, cfg proxyBenchConfig) {
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}}
	defer hc.CloseIdleConnections()
	paths := []streamPath{
		{"direct", b.up.URL, http.Header{"Authorization": {"Bearer " + b.token}}, 0},
		{"bare `httputil.ReverseProxy`", b.bare.URL, http.Header{"Authorization": {"Bearer " + b.proxyKey}}, b.bare.pid()},
		{"**through tokend**", proxyURL(b.stream, ""), http.Header{"Authorization": {"Bearer " + b.proxyKey}}, b.stream.cmd.Process.Pid},
	}
	for _, p := range paths { // warm-up: 1 MiB each way
		transfer(t, hc, p, false, 1<<20)
		transfer(t, hc, p, true, 1<<20)
	}
	streamRounds(t, out, hc, paths, cfg, "Streaming")
	if cpus := runtime.NumCPU(); cpus < 2 {
		return
	}
	// The same, with the proxies on a core of their own: the client (this process) and the
	// local API on CPU 0, tokend's and the bare proxy on the others.
	defer pin(t, false, "0-"+strconv.Itoa(runtime.NumCPU()-1), os.Getpid(), b.up.pid(), b.bare.pid(), b.stream.cmd.Process.Pid)
	pin(t, true, "0", os.Getpid(), b.up.pid())
	pin(t, true, "1-"+strconv.Itoa(runtime.NumCPU()-1), b.bare.pid(), b.stream.cmd.Process.Pid)
	streamRounds(t, out, hc, paths, cfg, "Streaming, each proxy on a core of its own")
}

// pin sets the CPU affinity of every thread of the processes pids to cpus (taskset's list
// syntax); a failure fails the benchmark when must is true, and is logged otherwise.
func pin(t *testing.T, must bool, cpus string, pids ...int) {
	for _, pid := range pids {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			if must {
				t.Fatalf("taskset -a -p -c %s %d: %v\n%s", cpus, pid, err, out)
			}
			t.Logf("taskset -a -p -c %s %d: %v", cpus, pid, err)
		}
	}
}

// streamRounds runs cfg.streamRounds interleaved rounds of a download and an upload on every
// path and writes them as the section title.
func streamRounds(t *testing.T, out func(string, ...any), hc *http.Client, paths []streamPath, cfg proxyBenchConfig, title string) {
	n := cfg.streamBytes
	out("")
	out("#### %s", title)
	out("")
	if title != "Streaming" {
		out("As above, with the client (this test) and the local API pinned to CPU 0 and tokend's and the bare proxy's processes to the other CPUs (`taskset -a -p`), as when a proxy runs on a host or in a pod of its own: the direct transfers then have one core for both ends, and each proxied one that core plus the proxy's.")
		out("")
	}
	out("One %d MiB download (the local API streams generated bytes with a `Content-Length`) and one %d MiB upload (the client streams generated bytes with a `Content-Length`; the API reads, counts and discards them) at a time, directly, through the bare ReverseProxy (for reference) and through a `tokend serve` process that serves nothing else, %d interleaved rounds. The client reads and writes with 64 KiB buffers. The proxy's VmRSS is sampled every 50 ms during each transfer.",
		n>>20, n>>20, cfg.streamRounds)
	out("")
	out("| transfer | round | path | MiB/s | time | proxy VmRSS before | largest during | growth | VmHWM before → after |")
	out("|---|---|---|---|---|---|---|---|---|")
	res := map[bool][][]streamResult{false: make([][]streamResult, len(paths)), true: make([][]streamResult, len(paths))}
	for r := range cfg.streamRounds {
		for _, upload := range []bool{false, true} {
			for _, i := range interleaved(r, len(paths)) {
				x := transfer(t, hc, paths[i], upload, n)
				res[upload][i] = append(res[upload][i], x)
				out("%s", streamRow(upload, r, paths[i].name, x))
			}
		}
	}
	streamSummary(out, res)
}

// streamRow is one transfer's table row.
func streamRow(upload bool, r int, path string, x streamResult) string {
	kind := "download"
	if upload {
		kind = "upload"
	}
	mem := "- | - | - | -"
	if x.rss0 != 0 {
		mem = fmt.Sprintf("%s | %s | **%s** | %s → %s", mib(x.rss0), mib(x.rssMax), mib(x.rssMax-x.rss0), mib(x.hwm0), mib(x.hwm1))
	}
	return fmt.Sprintf("| %s | %d | %s | %.0f | %s | %s |", kind, r+1, path, x.mibps(), x.dur.Round(time.Millisecond), mem)
}

// mib formats KiB as MiB.
func mib(kb int) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// streamSummary writes the throughput ratios (medians over the rounds) and tokend's largest
// RSS growth against the bounds; res holds direct, bare and tokend, in this order.
func streamSummary(out func(string, ...any), res map[bool][][]streamResult) {
	out("")
	rate := func(xs []streamResult) float64 {
		var v []float64
		for _, x := range xs {
			v = append(v, x.mibps())
		}
		return median(v)
	}
	growth := func(xs []streamResult) (g int) {
		for _, x := range xs {
			g = max(g, x.rssMax-x.rss0)
		}
		return g
	}
	for _, upload := range []bool{false, true} {
		direct, bare, tokend := rate(res[upload][0]), rate(res[upload][1]), rate(res[upload][2])
		kind := map[bool]string{false: "Download", true: "Upload"}[upload]
		out("- %s (medians): through tokend %.0f MiB/s, direct %.0f MiB/s: **%.1f%%** (issue: at least 80%%: %s); the bare ReverseProxy %.0f MiB/s (%.1f%% of direct).",
			kind, tokend, direct, 100*tokend/direct, verdict(tokend/direct, 0.8, true), bare, 100*bare/direct)
	}
	g := max(growth(res[false][2]), growth(res[true][2]))
	out("- tokend's largest RSS growth during a transfer: **%s** (issue: under 32 MiB: %s); the bare ReverseProxy's: %s.",
		mib(g), verdict(float64(g), 32*1024-1, false), mib(max(growth(res[false][1]), growth(res[true][1]))))
}
