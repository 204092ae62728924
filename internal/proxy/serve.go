package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/audit"
	"github.com/authconnection/terraform-provider-tailor/internal/broker"
	"github.com/authconnection/terraform-provider-tailor/internal/egress"
	"github.com/authconnection/terraform-provider-tailor/internal/wire"
)

// call is the state of one proxied call, in its request's context.
type call struct {
	name    string
	cfg     *config
	tok     *broker.Token
	target  *url.URL
	headers http.Header // the entry's API headers and the token
	// replay is the buffered request body; replayable says the call may be sent again.
	replay     []byte
	replayable bool
	attempts   int
	status     int
	bytesIn    atomic.Int64
	err        *Error
	// headersAt is when the upstream's final answer's headers arrived (zero: none did).
	headersAt time.Time
}

type callKey struct{}

func callOf(ctx context.Context) *call { c, _ := ctx.Value(callKey{}).(*call); return c }

// Serve forwards r, a request to /v1/connections/{name}/proxy/{path...} whose caller is
// already authenticated and allowed to use the proxy for name, and records it for caller.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, name string, caller audit.Caller) {
	start := p.o.Now()
	c := &call{name: name}
	cw := &countingWriter{ResponseWriter: w}
	if err := p.prepare(r, c); err != nil {
		WriteError(cw, err, 0)
		p.observe(r, c, cw, start, err)
		p.record(r, c, caller, cw, start, err)
		return
	}
	p.extendDeadlines(w)
	ctx := context.WithValue(r.Context(), callKey{}, c)
	ctx = egress.PassRedirects(egress.AllowOrigins(ctx, c.cfg.typed...))
	defer func() {
		// The ReverseProxy aborts a stream broken after its status was sent (the caller
		// left, the upstream failed) with http.ErrAbortHandler: the call is recorded all the same.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				p.record(r, c, caller, cw, start, &Error{Status: http.StatusBadGateway, Code: reasonStreamAborted})
			}
			panic(v)
		}
	}()
	p.rp.ServeHTTP(cw, r.WithContext(ctx))
	p.observe(r, c, cw, start, c.err)
	p.record(r, c, caller, cw, start, c.err)
}

// extendDeadlines lets the call's body and answer stream for up to MaxDuration: the server's
// read and write timeouts bound a token request, and would cut a long download, upload or
// event stream of a caller that is authenticated and allowed to use the proxy.
func (p *Proxy) extendDeadlines(w http.ResponseWriter) {
	var until time.Time // zero: no deadline
	if p.o.MaxDuration > 0 {
		until = p.o.Now().Add(p.o.MaxDuration)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(until)
	_ = rc.SetWriteDeadline(until)
}

// reasonStreamAborted is the audit reason of a call whose answer stream broke off.
const reasonStreamAborted = "stream_aborted"

// prepare finds the call's token, target and body, or tokend's answer instead.
func (p *Proxy) prepare(r *http.Request, c *call) *Error {
	ctx := r.Context()
	tok, err := p.o.Tokens.Token(ctx, c.name)
	if err != nil {
		return tokenError(c.name, err)
	}
	if c.cfg, err = p.configs.get(ctx, c.name); err != nil {
		return tokenError(c.name, err)
	}
	base, e := c.cfg.base(tok)
	if e != nil {
		return e
	}
	if c.target, err = Target(base, c.cfg.hosts, r.Header.Get(HeaderHost), rest(r), r.URL.RawQuery); err != nil {
		return transportError("", err) // always an *Error
	}
	if wait := p.backoffs.wait(ctx, c.name); wait > 0 {
		return &Error{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited, RetryAfter: wait,
			Message: "the connection's API asked to wait (Retry-After); tokend holds every call of this connection until then"}
	}
	if err := p.present(c, tok); err != nil {
		return err
	}
	return p.readBody(r, c)
}

// present sets the call's token and the headers that carry it.
func (p *Proxy) present(c *call, tok *broker.Token) *Error {
	h, err := c.cfg.provider.APIHeaders(tok.AccessToken, tok.Metadata)
	if err != nil {
		return &Error{Status: http.StatusConflict, Code: wire.CodeNoAPIBaseURL, Message: "the connection's API headers cannot be filled from its parameters and metadata"}
	}
	c.tok, c.headers = tok, h
	return nil
}

// rest is r's escaped path after /proxy ("" or beginning with /).
func rest(r *http.Request) string {
	p := r.URL.EscapedPath()
	if i := strings.Index(p, "/proxy"); i >= 0 {
		return p[i+len("/proxy"):]
	}
	return ""
}

// readBody buffers a body with a Content-Length of at most MaxReplayBody (the call may then
// be repeated after a refresh); any other body is streamed, and counted.
func (p *Proxy) readBody(r *http.Request, c *call) *Error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		c.replayable = true
		return nil
	}
	if r.ContentLength < 0 || r.ContentLength > p.o.MaxReplayBody {
		r.Body = &countingReader{r: r.Body, n: &c.bytesIn}
		return nil
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalidRequest, Message: "the request body ended before its Content-Length"}
	}
	c.replay, c.replayable = buf, true
	c.bytesIn.Store(int64(len(buf)))
	r.Body = io.NopCloser(bytes.NewReader(buf))
	return nil
}

// upstreamError is the ReverseProxy's ErrorHandler: tokend's answer for a call that got no
// answer from upstream.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	c := callOf(r.Context())
	c.err = transportError(c.target.Host, err)
	if r.Context().Err() != nil {
		return // the caller left
	}
	WriteError(w, c.err, c.attempts)
}

// record writes the call's audit record: the path as its template (pathTemplate), never a
// query value or a value from the path.
func (p *Proxy) record(r *http.Request, c *call, caller audit.Caller, cw *countingWriter, start time.Time, e *Error) {
	rec := audit.Record{Caller: caller, Connection: c.name, Action: audit.ProxyCall, Outcome: audit.Success,
		Method: r.Method, UpstreamStatus: c.status, BytesIn: c.bytesIn.Load(), BytesOut: cw.n,
		Duration: p.o.Now().Sub(start), Attempts: c.attempts}
	if c.target != nil {
		var md map[string]string
		if c.tok != nil {
			md = c.tok.Metadata
		}
		rec.Host, rec.Path = c.target.Host, truncate(pathTemplate(c.target.EscapedPath(), md), 512)
	}
	switch {
	case e == nil:
	case e.Code == wire.CodeUpstreamUnreachable || e.Status >= 500:
		rec.Outcome, rec.Reason = audit.Failure, e.Code
	default:
		rec.Outcome, rec.Reason = audit.Denied, e.Code
	}
	p.o.Recorder.Record(r.Context(), rec)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// countingWriter counts the body bytes written to the caller. Unwrap lets the
// ReverseProxy's http.ResponseController flush through it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingReader counts the bytes of a streamed request body.
type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.n.Add(int64(n))
	return n, err
}

func (r *countingReader) Close() error { return r.r.Close() }
