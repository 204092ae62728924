// Package ratelimit limits how often one client may use tokend's unauthenticated and
// pre-authentication routes (connect links, the hosted callback, the status page's sign-in)
// and how often it may present API keys that fail: each costs Vault reads, so without a
// limit one client turns a flood of made-up ids into a flood of Vault requests.
//
// A client is its address: an IPv4 address, or the /64 of an IPv6 address (one host usually
// holds a whole /64). Each client has a token bucket (golang.org/x/time/rate); the buckets
// are kept in a bounded LRU, so a flood from many addresses evicts the least recently seen
// buckets one by one and never empties the set whole.
package ratelimit

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	DefaultRate    = 1.0   // requests per second per client, sustained
	DefaultBurst   = 20    // requests a client may make at once
	DefaultClients = 65536 // buckets kept (about 200 bytes each)
	DefaultDelay   = time.Second
)

// Options configure a Limiter.
type Options struct {
	// Rate is the sustained number of requests per second a client may make [DefaultRate].
	Rate float64
	// Burst is how many requests a client may make at once [DefaultBurst].
	Burst int
	// Clients bounds the number of buckets kept [DefaultClients].
	Clients int
	// ClientIPHeader, when set, names a header a trusted proxy sets to the client's address
	// (X-Forwarded-For: its rightmost entry, the one the proxy added; any other header: its
	// whole value). Empty: the client is the connection's remote address. Set it only when
	// every request reaches tokend through that proxy, or clients choose their own address.
	ClientIPHeader string
	// Delay holds a refused request this long (at most until the client may send again, or
	// its request ends) before its 429 goes out, so that a client flooding over a few
	// connections sends a few requests a second, not thousands, and valid callers keep the
	// CPU. 0: answer at once.
	Delay time.Duration
}

// Limiter holds one token bucket per client.
type Limiter struct {
	o       Options
	clients *lru.Cache[netip.Prefix, *rate.Limiter]
	refused atomic.Int64
}

// New returns a Limiter for o.
func New(o Options) (*Limiter, error) {
	if o.Rate < 0 || o.Burst < 0 || o.Clients < 0 {
		return nil, errors.New("ratelimit: rate, burst and clients must not be negative")
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	o.ClientIPHeader = http.CanonicalHeaderKey(strings.TrimSpace(o.ClientIPHeader))
	c, err := lru.New[netip.Prefix, *rate.Limiter](o.Clients)
	if err != nil {
		return nil, err
	}
	return &Limiter{o: o, clients: c}, nil
}

// Allow charges r's client one request. When its bucket is empty it holds the request for
// Options.Delay, then returns false and how long the client should wait before its next
// request.
func (l *Limiter) Allow(r *http.Request) (bool, time.Duration) {
	ok, wait := l.AllowClient(l.Client(r))
	if !ok && l.o.Delay > 0 {
		t := time.NewTimer(min(l.o.Delay, wait))
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
	}
	return ok, wait
}

// AllowClient is Allow for a client returned by Client.
func (l *Limiter) AllowClient(c netip.Prefix) (bool, time.Duration) {
	b, ok := l.clients.Get(c)
	if !ok {
		nb := rate.NewLimiter(rate.Limit(l.o.Rate), l.o.Burst)
		if prev, found, _ := l.clients.PeekOrAdd(c, nb); found {
			b = prev // another request added it meanwhile
		} else {
			b = nb
		}
	}
	now := time.Now()
	if b.AllowN(now, 1) {
		return true, 0
	}
	l.refused.Add(1)
	wait := time.Duration((1 - b.TokensAt(now)) / l.o.Rate * float64(time.Second))
	return false, max(wait, time.Second)
}

// Refused returns how many requests were refused so far.
func (l *Limiter) Refused() int64 { return l.refused.Load() }

// Client returns the client of r: its address (see Options.ClientIPHeader), an IPv6 address
// as its /64. A request whose address cannot be read is counted under the invalid prefix,
// which all such requests share.
func (l *Limiter) Client(r *http.Request) netip.Prefix {
	var a netip.Addr
	if l.o.ClientIPHeader != "" {
		a = headerAddr(r.Header.Get(l.o.ClientIPHeader), l.o.ClientIPHeader == "X-Forwarded-For")
	}
	if !a.IsValid() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		a, _ = netip.ParseAddr(host)
	}
	return prefixOf(a)
}

func headerAddr(v string, lastOfList bool) netip.Addr {
	if lastOfList {
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
	}
	v = strings.TrimSpace(v)
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(strings.Trim(v, "[]"))
	return a
}

func prefixOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Wrap returns a handler that charges every request that match accepts (all when match is
// nil) to its client before next sees it, and refuses it with 429 when the client's bucket
// is empty.
func (l *Limiter) Wrap(next http.Handler, match func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match == nil || match(r) {
			if ok, wait := l.Allow(r); !ok {
				Refuse(w, r, wait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse answers 429 Too Many Requests with Retry-After: JSON for API clients, plain text
// for browsers (a request that accepts text/html).
func Refuse(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	msg := "too many requests from your address; try again in " + strconv.Itoa(max(secs, 1)) + " s"
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Too many requests: " + msg + ".\n"))
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{"rate_limited", msg})
}
