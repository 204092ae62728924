package audit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Sink is where the Trail's goroutine writes records, one at a time and in order. Flush is
// called when the queue is empty. A sink's error is logged and counted by the Trail.
type Sink interface {
	Name() string
	Write(ctx context.Context, r *Record) error
	Flush() error
}

// Options configure a Trail.
type Options struct {
	// Replica names this process in every record (tokend serve: its host name and pid).
	Replica string
	// Sinks receive every record, in order.
	Sinks []Sink
	// Counters, if set, count every record, every drop and every sink failure.
	Counters *Counters
	// Queue is the number of records waiting for the sinks (default 8192).
	Queue int
	// MaxWait is how long Record waits for room in a full queue before it drops the
	// record (default 50ms).
	MaxWait time.Duration
	// Interval is how often the Trail's goroutine takes the queued records (default 5ms).
	Interval time.Duration
	// Describe, if set, returns the description of a caller whose record has none (tokend:
	// an API key's, from the key cache); it runs on the Trail's goroutine, off the
	// request's path.
	Describe func(c Caller) string
	Logger   *slog.Logger
}

// Trail is the Recorder of tokend serve: a bounded queue without a lock (ring) in front of
// the counters and sinks.
type Trail struct {
	o       Options
	q       *ring
	dropped atomic.Uint64
	log     *slog.Logger
	lastLog time.Time // of a sink failure, read and written by Run's goroutine only
	cur     Record    // the record being written by Run's goroutine (not on its stack: sinks take its address)
}

// New returns a Trail; its records reach the counters and sinks once Run is started.
func New(o Options) *Trail {
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Trail{o: o, q: newRing(o.Queue), log: log}
}

// Record queues r. It fills Time and Replica when empty, never blocks longer than
// Options.MaxWait, and drops r (counted) when the queue stays full.
func (t *Trail) Record(_ context.Context, r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Replica == "" {
		r.Replica = t.o.Replica
	}
	if t.q.push(&r) {
		return
	}
	t.wait(&r)
}

// wait retries a record the full queue refused until Options.MaxWait has passed, then
// drops it.
func (t *Trail) wait(r *Record) {
	for deadline := time.Now().Add(t.o.MaxWait); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if t.q.push(r) {
			return
		}
	}
	t.drop(r.Action)
}

func (t *Trail) drop(a Action) {
	if n := t.dropped.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th... drop
		t.log.Error("audit queue full: records dropped", "action", string(a), "dropped_total", n)
	}
	if t.o.Counters != nil {
		t.o.Counters.dropped.Inc()
	}
}

// Dropped returns the number of records dropped because the queue was full.
func (t *Trail) Dropped() uint64 { return t.dropped.Load() }

// Run writes queued records to the counters and sinks until ctx ends, then writes what is
// still queued and flushes the sinks. It takes the queue's records every Options.Interval
// instead of waiting on the queue, so a request's Record never has to wake it: a record
// reaches the stream within about Interval.
func (t *Trail) Run(ctx context.Context) {
	tick := time.NewTicker(t.o.Interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.drain(ctx)
		case <-ctx.Done():
			t.drain(context.WithoutCancel(ctx))
			return
		}
	}
}

// drain writes the queued records and flushes the sinks once they are written.
func (t *Trail) drain(ctx context.Context) {
	n := 0
	for ; t.q.pop(&t.cur); n++ {
		t.write(ctx, &t.cur)
	}
	if n > 0 {
		t.flush()
	}
}

func (t *Trail) write(ctx context.Context, r *Record) {
	if r.Caller.Description == "" && r.Caller.ID != "" && t.o.Describe != nil {
		r.Caller.Description = t.o.Describe(r.Caller)
	}
	if t.o.Counters != nil {
		t.o.Counters.count(r)
	}
	for _, s := range t.o.Sinks {
		if err := s.Write(ctx, r); err != nil {
			t.failed(s, err)
		}
	}
}

func (t *Trail) flush() {
	for _, s := range t.o.Sinks {
		if err := s.Flush(); err != nil {
			t.failed(s, err)
		}
	}
}

// failed counts a sink's failure and logs it, at most once a minute. The error is the
// sink's (a file or outbox error), never a record's contents.
func (t *Trail) failed(s Sink, err error) {
	if t.o.Counters != nil {
		t.o.Counters.writeErrors.WithLabelValues(s.Name()).Inc()
	}
	if now := time.Now(); now.Sub(t.lastLog) >= time.Minute {
		t.lastLog = now
		t.log.Error("audit sink failed: records lost for this sink", "sink", s.Name(), "error", err)
	}
}
