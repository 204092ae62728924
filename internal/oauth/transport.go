package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// tokenCall decorates one token-endpoint request made by x/oauth2: it adds the provider's
// extra headers and form values and keeps a copy of the raw response body, so the caller can
// keep every field of the response (x/oauth2 exposes only named ones).
//
// It also guards the grant: x/oauth2 retries a failed request with the other client
// authentication style when the style is unknown (AuthStyleAutoDetect: endpoint overrides,
// or metadata offering both basic and post), after any failure. That second request presents
// the same code or refresh token again, and its answer hides the first one (an invalid_grant
// comes back as invalid_client). tokenCall lets a second request through only when the first
// failed client authentication (401, invalid_client, unauthorized_client), which providers
// check before the grant; otherwise it answers with the first response without sending.
type tokenCall struct {
	base    http.RoundTripper
	headers map[string]string
	form    url.Values // added to the request body (values the request has are kept)
	json    bool       // send the body as a JSON object instead of a form
	query   []string   // parameters also sent in the URL's query (never secrets)
	answer  catalog.TokenResponse
	body    []byte

	sent  int         // requests sent
	first *firstReply // the first answer, replayed to a retry that may not go out
}

type firstReply struct {
	err        error
	status     int
	header     http.Header
	body       []byte
	authFailed bool
}

func (f *firstReply) response(req *http.Request) (*http.Response, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &http.Response{StatusCode: f.status, Status: fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		Header: f.header.Clone(), Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)),
		Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// clientAuthFailed reports whether a token-endpoint answer is a client authentication
// failure, after which retrying with the other authentication style is safe.
func clientAuthFailed(status int, body []byte) bool {
	if status == http.StatusUnauthorized {
		return true
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error == "invalid_client" || e.Error == "unauthorized_client"
}

func (t *tokenCall) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.first != nil && !t.first.authFailed {
		if req.Body != nil {
			req.Body.Close()
		}
		return t.first.response(req)
	}
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	if err := t.addForm(req); err != nil {
		return nil, err
	}
	t.sent++
	resp, err := t.base.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode/100 == 2 {
		resp, body = t.normalize(resp, body)
	}
	if err != nil {
		if t.first == nil {
			t.first = &firstReply{err: err}
		}
		return nil, err
	}
	if t.first == nil {
		t.first = &firstReply{status: resp.StatusCode, header: resp.Header.Clone(), body: body,
			authFailed: resp.StatusCode/100 != 2 && clientAuthFailed(resp.StatusCode, body)}
	}
	t.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// normalize rewrites a 2xx answer by the entry's token_response rules (normalizeAnswer): an
// error reported with a 2xx status becomes a 400 answer.
func (t *tokenCall) normalize(resp *http.Response, body []byte) (*http.Response, []byte) {
	out, failed := normalizeAnswer(body, t.answer)
	if failed {
		resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
		resp.Header = resp.Header.Clone()
		resp.Header.Set("Content-Type", "application/json")
	}
	return resp, out
}

// addForm adds the extra form values to the body of the request, and encodes the body as a
// JSON object when the entry asks for it.
func (t *tokenCall) addForm(req *http.Request) error {
	if (len(t.form) == 0 && !t.json && len(t.query) == 0) || req.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return err
	}
	vals, err := url.ParseQuery(string(raw))
	if err == nil {
		for k, vs := range t.form {
			if vals.Get(k) == "" {
				vals[k] = vs
			}
		}
		raw = []byte(vals.Encode())
		t.setQuery(req, vals)
		if t.json {
			raw = jsonBody(vals)
			req.Header.Set("Content-Type", "application/json")
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	req.ContentLength = int64(len(raw))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	return nil
}

// setQuery copies the values of the entry's token_query parameters into the URL's query.
func (t *tokenCall) setQuery(req *http.Request, vals url.Values) {
	if len(t.query) == 0 {
		return
	}
	q := req.URL.Query()
	for _, k := range t.query {
		if v := vals.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	req.URL.RawQuery = q.Encode()
}

// jsonBody encodes form values as a JSON object of strings (the first value of each).
func jsonBody(vals url.Values) []byte {
	m := make(map[string]string, len(vals))
	for k := range vals {
		m[k] = vals.Get(k)
	}
	b, _ := json.Marshal(m)
	return b
}

// withTokenCall returns a context for x/oauth2 whose HTTP client sends through tc.
func (c *Client) withTokenCall(ctx context.Context, tc *tokenCall) context.Context {
	hc := c.http()
	tc.base = hc.Transport
	if tc.base == nil {
		tc.base = http.DefaultTransport
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: tc, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect})
}
