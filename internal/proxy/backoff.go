package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// backoffMemory remembers, per connection, until when its API asked to be left alone (a 429
// or 503 with Retry-After, at most cap ahead): in memory, and through store for the other
// replicas, whose records are read at most once per sharedRead per connection.
type backoffMemory struct {
	shared Backoffs // nil: this replica only
	cap    time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu sync.Mutex
	m  map[string]*backoff
}

type backoff struct {
	until   time.Time
	readAt  time.Time // when the shared record was last read
	version int       // its version then
}

// sharedRead is how often a replica reads a connection's shared backoff record.
const sharedRead = time.Second

func newBackoffMemory(shared Backoffs, cap time.Duration, now func() time.Time, log *slog.Logger) *backoffMemory {
	return &backoffMemory{shared: shared, cap: cap, now: now, log: log, m: map[string]*backoff{}}
}

// wait returns how long calls of connection name must still wait (0: none).
func (m *backoffMemory) wait(ctx context.Context, name string) time.Duration {
	now := m.now()
	m.mu.Lock()
	b := m.m[name]
	if b == nil {
		b = &backoff{}
		m.m[name] = b
	}
	until, read := b.until, m.shared != nil && now.Sub(b.readAt) >= sharedRead
	if read {
		b.readAt = now
	}
	m.mu.Unlock()
	if read {
		rec, err := m.shared.GetProxyBackoff(ctx, name)
		if err != nil {
			m.log.Warn("cannot read the proxy backoff of a connection; using this replica's", "connection", name, "error", err)
		} else {
			until = m.adopt(name, rec.Until, rec.Version)
		}
	}
	if d := until.Sub(now); d > 0 {
		return min(d, m.cap)
	}
	return 0
}

// adopt keeps until for name when it is later than what is known, and returns the result.
func (m *backoffMemory) adopt(name string, until time.Time, version int) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.m[name]
	if version > 0 {
		b.version = version
	}
	if until.After(b.until) {
		b.until = until
	}
	return b.until
}

// note remembers the Retry-After of resp, an answer to a call of connection name, when it
// is a 429 or 503, and shares it.
func (m *backoffMemory) note(ctx context.Context, name string, resp *http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return
	}
	d, ok := RetryAfter(resp.Header.Get("Retry-After"), m.now())
	if !ok || d <= 0 {
		return
	}
	until := m.now().Add(min(d, m.cap))
	m.mu.Lock()
	b := m.m[name]
	later := b != nil && until.After(b.until)
	if later {
		b.until = until
	}
	version := 0
	if b != nil {
		version = b.version
	}
	m.mu.Unlock()
	if later && m.shared != nil {
		go m.share(context.WithoutCancel(ctx), name, store.ProxyBackoff{Until: until, Status: resp.StatusCode, Version: version})
	}
}

// share writes a backoff for the other replicas.
func (m *backoffMemory) share(ctx context.Context, name string, b store.ProxyBackoff) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.shared.PutProxyBackoff(ctx, name, b); err != nil {
		m.log.Warn("cannot share the proxy backoff of a connection with the other replicas", "connection", name, "error", err)
	}
}

// RetryAfter parses a Retry-After value (delay seconds or an HTTP date) into how long to wait
// from now.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, n >= 0
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return t.Sub(now), true
}
