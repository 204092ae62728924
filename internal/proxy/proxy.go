// Package proxy is tokend's API proxy: a caller sends a connection's API request to
// /v1/connections/{name}/proxy/{path...} and tokend forwards it to the connection's API base
// URL with the access token presented as the catalog entry says, streaming both ways, so the
// caller never holds the token. An upstream 401 costs one forced refresh (Broker.Refresh) and
// one retry when the request can be repeated; a 429 or 503 with Retry-After is remembered per
// connection across replicas (store.Store.PutProxyBackoff). See docs/proxy.md.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
)

// Tokens serves and refreshes access tokens (*broker.Broker).
type Tokens interface {
	Token(ctx context.Context, name string) (*broker.Token, error)
	Refresh(ctx context.Context, name string, rejected *broker.Token) (*broker.Token, error)
}

// Connections reads connection configurations (*store.Store).
type Connections interface {
	GetConnection(ctx context.Context, name string) (*store.ConnectionRecord, error)
}

// Backoffs keeps the Retry-After of a connection's API across replicas (*store.Store).
type Backoffs interface {
	GetProxyBackoff(ctx context.Context, name string) (store.ProxyBackoff, error)
	PutProxyBackoff(ctx context.Context, name string, b store.ProxyBackoff) error
}

// Resolver resolves a connection's provider: its catalog entry, for how the API takes the
// token (*oauth.Client).
type Resolver interface {
	Resolve(ctx context.Context, conn *authconn.Connection) (*oauth.Provider, error)
}

// Options configures a Proxy.
type Options struct {
	Tokens      Tokens
	Connections Connections
	OAuth       Resolver
	// Backoffs, when set, shares remembered Retry-Afters with the other replicas.
	Backoffs Backoffs
	Recorder audit.Recorder
	// Registerer, when set, takes the proxy's Prometheus metrics (tokend's registry;
	// docs/proxy.md, "Metrics").
	Registerer prometheus.Registerer
	// Transport sends the calls; an egress.Transport of its own when nil. Anything else
	// must apply the egress policy itself.
	Transport http.RoundTripper
	// ConfigTTL is how long a connection's configuration is used before it is read again [5s].
	ConfigTTL time.Duration
	// BackoffCap bounds a remembered Retry-After [10m].
	BackoffCap time.Duration
	// MaxDuration bounds a call's time, its streams included, in place of the server's read
	// and write timeouts [1h]; negative: no bound.
	MaxDuration time.Duration
	// MaxReplayBody is the largest request body (with a Content-Length) kept in memory so
	// that the call can be repeated after a refresh [64 KiB].
	MaxReplayBody int64
	Logger        *slog.Logger
	Now           func() time.Time
}

// Proxy forwards API calls of connections. It is safe for concurrent use.
type Proxy struct {
	o        Options
	rp       *httputil.ReverseProxy
	configs  *configCache
	backoffs *backoffMemory
	metrics  *metrics
}

// New returns a Proxy.
func New(o Options) *Proxy {
	if o.Transport == nil {
		o.Transport = egress.NewTransport()
	}
	if o.ConfigTTL <= 0 {
		o.ConfigTTL = 5 * time.Second
	}
	if o.BackoffCap <= 0 {
		o.BackoffCap = 10 * time.Minute
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = time.Hour
	}
	if o.MaxReplayBody <= 0 {
		o.MaxReplayBody = 64 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Recorder = audit.OrNop(o.Recorder)
	p := &Proxy{o: o, configs: newConfigCache(o.Connections, o.OAuth, o.ConfigTTL, o.Now),
		backoffs: newBackoffMemory(o.Backoffs, o.BackoffCap, o.Now, o.Logger), metrics: newMetrics(o.Registerer)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      &retrying{p: p, next: o.Transport},
		FlushInterval:  -1, // server-sent events and long polls arrive as they are written
		BufferPool:     newBufferPool(),
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return p
}

// copyBufferSize is the size of the buffers an answer's body is copied through: larger than
// the ReverseProxy's 32 KiB, for fewer system calls on large downloads (docs/benchmarks.md);
// one buffer per answer being streamed.
const copyBufferSize = 128 << 10

// bufferPool is an httputil.BufferPool of copyBufferSize buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }

// ServeAPIKey is Serve for a caller authenticated by the API key keyID (api.ProxyCalls).
func (p *Proxy) ServeAPIKey(w http.ResponseWriter, r *http.Request, name, keyID string) {
	p.Serve(w, r, name, audit.Caller{Kind: audit.CallerAPIKey, ID: keyID})
}
