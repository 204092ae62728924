package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/authconnection/terraform-provider-tailor/internal/broker"
)

// retrying is the ReverseProxy's Transport: it counts attempts, answers an upstream 401 with
// one forced refresh and one retry (when the call can be repeated), and remembers a
// Retry-After.
type retrying struct {
	p    *Proxy
	next http.RoundTripper
}

// maxDrain bounds what is read of a refused answer's body so its connection can be reused.
const maxDrain = 64 << 10

func (t *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	c := callOf(req.Context())
	c.attempts++
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && c.replayable && c.attempts == 1 {
		retry, err := t.p.afterRefusal(req, c)
		if err != nil {
			resp.Body.Close()
			return nil, err
		}
		if retry != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
			resp.Body.Close()
			c.attempts++
			t.p.metrics.retries.Inc()
			if resp, err = t.next.RoundTrip(retry); err != nil {
				return nil, err
			}
		}
	}
	t.p.backoffs.note(req.Context(), c.name, resp)
	c.headersAt = t.p.o.Now()
	return resp, nil
}

// afterRefusal refreshes the token the API refused and returns the call to send again with
// the new one; nil when no new token could be had (the upstream's 401 is then the answer),
// or tokend's answer when the connection needs re-authorization.
func (p *Proxy) afterRefusal(req *http.Request, c *call) (*http.Request, error) {
	tok, err := p.o.Tokens.Refresh(req.Context(), c.name, c.tok)
	var na *broker.NotAuthorizedError
	if errors.As(err, &na) {
		return nil, tokenError(c.name, err)
	}
	if err != nil || tok == nil || tok == c.tok {
		return nil, nil
	}
	old := c.headers
	if e := p.present(c, tok); e != nil {
		return nil, nil
	}
	retry := req.Clone(req.Context())
	for k := range old {
		retry.Header.Del(k)
	}
	for k, v := range c.headers {
		retry.Header[k] = v
	}
	if c.replay != nil {
		retry.Body = io.NopCloser(bytes.NewReader(c.replay))
	} else if req.Body != nil && req.Body != http.NoBody {
		retry.Body = http.NoBody
	}
	return retry, nil
}
