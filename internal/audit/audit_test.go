package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func run(t *testing.T, tr *Trail) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestJSONLinesWritesOneObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	tr := New(Options{Replica: "r1", Sinks: []Sink{NewJSONLines(&buf)}})
	stop := run(t, tr)
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	tr.Record(context.Background(), Record{Time: at, Caller: Caller{Kind: CallerAPIKey, ID: "k1", Description: "billing"},
		Connection: "crm", Action: TokenRead, Outcome: Success})
	tr.Record(context.Background(), Record{Caller: Caller{Kind: CallerAPIKey, ID: "k2"}, Connection: "crm",
		Action: ProxyCall, Outcome: Success, Method: "GET", Host: "api.example.com", Path: "/v1/users/{id}",
		UpstreamStatus: 200, BytesOut: 42, Duration: 1500 * time.Microsecond, Attempts: 1})
	stop()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), buf.String())
	}
	want := `{"time":"2026-12-06T09:00:00Z","replica":"r1","caller":{"kind":"api_key","id":"k1","description":"billing"},"connection":"crm","action":"token.read","outcome":"success"}`
	if lines[0] != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"replica": "r1", "method": "GET", "host": "api.example.com", "path": "/v1/users/{id}",
		"upstream_status": 200.0, "bytes_out": 42.0, "duration_ms": 1.5, "attempts": 1.0} {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["time"].(string); !ok {
		t.Errorf("time not filled: %v", m["time"])
	}
}

func TestOpenJSONLinesAppendsToAPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for i := range 2 {
		j, err := OpenJSONLines(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Write(context.Background(), &Record{Action: KeyCreated, Outcome: Success, Reason: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	f, _ := os.Open(path)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("line %d is not JSON: %s", n, sc.Text())
		}
	}
	if n != 2 {
		t.Errorf("want 2 lines, got %d", n)
	}
}

type failingSink struct{ n int }

func (f *failingSink) Name() string                         { return "failing" }
func (f *failingSink) Write(context.Context, *Record) error { f.n++; return errors.New("disk full") }
func (f *failingSink) Flush() error                         { return nil }

func TestSinkFailureIsCountedAndOtherSinksStillWrite(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCounters(reg, 0)
	var buf bytes.Buffer
	bad := &failingSink{}
	tr := New(Options{Sinks: []Sink{bad, NewJSONLines(&buf)}, Counters: c})
	stop := run(t, tr)
	tr.Record(context.Background(), Record{Action: TokenRead, Outcome: Denied, Reason: "forbidden"})
	stop()
	if got := value(c.writeErrors.WithLabelValues("failing")); got != 1 {
		t.Errorf("write errors = %v, want 1", got)
	}
	if !strings.Contains(buf.String(), `"reason":"forbidden"`) {
		t.Errorf("the other sink did not write: %q", buf.String())
	}
}

// blockingSink is a sink whose Write signals entered (without blocking on it) and then
// waits until release is closed: a test knows when the Trail's goroutine is stuck in it.
type blockingSink struct {
	entered chan struct{} // buffered: receives at least one signal once Write is entered
	release chan struct{}
}

func (b *blockingSink) Name() string { return "blocking" }
func (b *blockingSink) Write(context.Context, *Record) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return nil
}
func (b *blockingSink) Flush() error { return nil }

func TestFullQueueDropsAfterMaxWaitAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCounters(reg, 0)
	sink := &blockingSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	tr := New(Options{Sinks: []Sink{sink}, Counters: c, Queue: 2, MaxWait: 10 * time.Millisecond})
	stop := run(t, tr)
	ctx := context.Background()
	tr.Record(ctx, Record{Action: TokenRead, Outcome: Success}) // taken by Run, blocked in the sink
	select {
	case <-sink.entered: // the queue is empty again and Run is stuck in the sink
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not take the first record into the sink")
	}
	tr.Record(ctx, Record{Action: TokenRead, Outcome: Success}) // these two fill the queue
	tr.Record(ctx, Record{Action: TokenRead, Outcome: Success})
	// Dropped after MaxWait while the sink is still stuck: Record returns before the sink is
	// released (the deadline only catches a Record that would wait for the sink).
	returned := make(chan struct{})
	go func() {
		tr.Record(ctx, Record{Action: TokenRead, Outcome: Success})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("Record waits for a stuck sink: it must drop after MaxWait")
	}
	if tr.Dropped() != 1 || value(c.dropped) != 1 {
		t.Errorf("dropped = %d, counter %v; want 1", tr.Dropped(), value(c.dropped))
	}
	close(sink.release)
	stop()
}

func TestCountersBoundSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCounters(reg, 2)
	for _, r := range []Record{
		{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "a", Action: TokenRead, Outcome: Success},
		{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "a", Action: TokenRead, Outcome: Success},
		{Caller: Caller{Kind: CallerCLI, ID: "alice"}, Connection: "b", Action: ConnectionRevoked, Outcome: Success},
		{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "nope-1", Action: TokenRead, Outcome: Denied, Reason: "forbidden"},
		{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "nope-2", Action: TokenRead, Outcome: Denied, Reason: "forbidden"},
	} {
		c.count(&r)
	}
	if got := value(c.records.WithLabelValues("k1", "a", "token.read", "success")); got != 2 {
		t.Errorf("k1/a = %v, want 2", got)
	}
	if got := value(c.records.WithLabelValues("cli", "b", "connection.revoked", "success")); got != 1 {
		t.Errorf("cli/b = %v, want 1 (the CLI operator's name is not a label)", got)
	}
	if got := value(c.records.WithLabelValues(Other, Other, "token.read", "denied")); got != 2 {
		t.Errorf("_other = %v, want 2", got)
	}
	if n := seriesCount(c.records); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
}

func TestWebhooksSkipSuccessfulHotPathRecords(t *testing.T) {
	var mu sync.Mutex
	var got []Action
	w := &Webhooks{Enqueue: func(_ context.Context, r *Record) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Action)
		return nil
	}}
	for _, r := range []Record{
		{Action: TokenRead, Outcome: Success},
		{Action: ProxyCall, Outcome: Success},
		{Action: TokenRead, Outcome: Denied},
		{Action: KeyCreated, Outcome: Success},
	} {
		if err := w.Write(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != TokenRead || got[1] != KeyCreated {
		t.Errorf("enqueued %v, want [token.read key.created]", got)
	}
	if EventType(KeyCreated) != "audit.key.created" || !IsEventType("audit.key.created") {
		t.Error("event type")
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	tr := New(Options{Replica: "r1", Queue: 1 << 16})
	r := Record{Caller: Caller{Kind: CallerAPIKey, ID: "k1", Description: "d"}, Connection: "crm", Action: TokenRead, Outcome: Success}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { tr.Record(ctx, r) }); n != 0 {
		t.Errorf("Record allocates %v objects, want 0", n)
	}
}

func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	_ = (<-ch).Write(&m)
	return m.GetCounter().GetValue()
}

func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func TestMarshalEscapesLikeJSON(t *testing.T) {
	weird := "a\"b\\c\nd\x00e\x7f\xff<é>\u2028"
	r := Record{Time: time.Unix(0, 0), Caller: Caller{Kind: CallerAPIKey, ID: weird, Description: weird}, Connection: weird,
		Action: TokenRead, Outcome: Denied, Reason: weird, Path: weird}
	b := Marshal(&r)
	if !json.Valid(b) {
		t.Fatalf("not JSON: %s", b)
	}
	var m struct {
		Caller     Caller
		Connection string
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := strings.ToValidUTF8(weird, "\ufffd")
	if m.Caller.Description != want || m.Connection != want {
		t.Errorf("round trip: %q, want %q", m.Connection, want)
	}
}

func TestCountersPutMadeUpNamesUnderOther(t *testing.T) {
	c := NewCounters(prometheus.NewRegistry(), 0)
	r1 := Record{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "x", Action: TokenRead, Outcome: Failure, Reason: "not_found"}
	r2 := Record{Caller: Caller{Kind: CallerAPIKey, ID: "k1"}, Connection: "x", Action: TokenRead, Outcome: Failure, Reason: "unavailable"}
	c.count(&r1)
	c.count(&r2)
	if got := value(c.records.WithLabelValues("k1", Other, "token.read", "failure")); got != 1 {
		t.Errorf("not_found under _other = %v, want 1", got)
	}
	if got := value(c.records.WithLabelValues("k1", "x", "token.read", "failure")); got != 1 {
		t.Errorf("unavailable under x = %v, want 1", got)
	}
}

// TestRingKeepsEveryRecordOfConcurrentProducers: records pushed from many goroutines while
// the consumer pops all arrive, once each (run with -race).
func TestRingKeepsEveryRecordOfConcurrentProducers(t *testing.T) {
	q := newRing(64)
	const producers, each = 8, 2000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				r := Record{Attempts: p*each + i}
				for !q.push(&r) {
					time.Sleep(time.Microsecond)
				}
			}
		})
	}
	seen := make([]bool, producers*each)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var r Record
	n := 0
	for finished := false; ; {
		for q.pop(&r) {
			if seen[r.Attempts] {
				t.Fatalf("record %d popped twice", r.Attempts)
			}
			seen[r.Attempts] = true
			n++
		}
		if finished {
			break
		}
		select {
		case <-done:
			finished = true
		default:
		}
	}
	if n != producers*each {
		t.Fatalf("popped %d records, want %d", n, producers*each)
	}
}
