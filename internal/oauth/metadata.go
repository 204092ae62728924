package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// maxMetadataValue bounds each metadata value (they come from the provider).
const maxMetadataValue = 512

// Metadata returns the non-secret values the entry keeps from an authorization: from the
// callback's query (QuickBooks realmId) and from the token answer's dotted paths (Salesforce
// instance_url, Slack team.id). The entry's loader has refused any name that looks like a
// secret. Values are sanitized and bounded; missing ones, and ones a parameter of the same
// name would refuse, are left out. Nil when none.
func (p *Provider) Metadata(cb *Callback, t *Token) map[string]string {
	out := p.rawMetadata(cb, t)
	p.dropRefused(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// rawMetadata is Metadata before the parameters' checks: the code exchange fills the token
// endpoint with it, so that a refused value stops the exchange with an error.
func (p *Provider) rawMetadata(cb *Callback, t *Token) map[string]string {
	m := p.preset().Metadata
	out := map[string]string{}
	if cb != nil {
		for _, v := range m.Callback {
			if s := cb.Extras[v.From]; s != "" {
				out[v.Name] = authconn.Sanitize(s, maxMetadataValue)
			}
		}
	}
	if t != nil {
		doc := map[string]any{}
		for k, v := range t.Extra {
			doc[k] = v
		}
		pick(doc, m.Token, out)
	}
	return out
}

// dropRefused removes the values a parameter of the same name would refuse (a provider's
// instance_url on another domain, an api_domain that is an internal address): metadata fills
// the same templates as parameters, and what a provider answers is not operator-typed.
func (p *Provider) dropRefused(out map[string]string) {
	for k, v := range out {
		if !p.preset().AcceptsValue(k, v) {
			delete(out, k)
		}
	}
}

// pick copies the scalar values at the paths of vals in doc into out.
func pick(doc any, vals []catalog.Value, out map[string]string) {
	for _, v := range vals {
		if x, ok := catalog.Lookup(doc, v.From); ok {
			if s, ok := catalog.Scalar(x); ok && s != "" {
				out[v.Name] = authconn.Sanitize(s, maxMetadataValue)
			}
		}
	}
}

// MetadataErrorKind says how a metadata call failed.
type MetadataErrorKind string

const (
	// MetadataCallFailed: no answer, a non-2xx answer, or an answer that is not JSON.
	MetadataCallFailed MetadataErrorKind = "call_failed"
	// MetadataTimeout: the call did not finish in time.
	MetadataTimeout MetadataErrorKind = "timeout"
	// MetadataSeveral: the answer lists several items and the entry's pick rule (only, or
	// match without a value to match) cannot choose.
	MetadataSeveral MetadataErrorKind = "several"
	// MetadataNone: the answer lists no item, or none that matches.
	MetadataNone MetadataErrorKind = "none"
)

// MetadataError is a failed metadata call. It never holds the token. The tokens of the
// authorization stay valid: the caller keeps them and shows the status and message.
type MetadataError struct {
	Kind       MetadataErrorKind
	StatusCode int // HTTP status, 0 without an answer
	Count      int // items in the answer, for MetadataSeveral
	Err        error
}

func (e *MetadataError) Error() string {
	switch e.Kind {
	case MetadataTimeout:
		return "the metadata call timed out (the tokens are kept; retry later)"
	case MetadataSeveral:
		return fmt.Sprintf("the metadata call returned %d items and the connection does not say which one to use: set the parameter the provider's entry matches on (the tokens are kept)", e.Count)
	case MetadataNone:
		return "the metadata call returned no usable item: the account may have access to none (the tokens are kept)"
	}
	msg := "the metadata call failed"
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " (the tokens are kept)"
}

func (e *MetadataError) Unwrap() error { return e.Err }

// MetadataTimeoutDefault bounds a metadata call when ctx has no earlier deadline.
const MetadataTimeoutDefault = 15 * time.Second

// FetchMetadata makes the entry's post-connect call with the new access token (its URL
// template filled from the connection's parameters and the metadata known so far, its
// method and headers, the token presented as the API takes it; a host override of the
// connection applies, and its origin is allowed by the egress policy), picks one item of the
// answer by the entry's rule, and returns the item's values. Nil, nil when the entry has no
// call. Errors are *MetadataError (call failed, timed out, several items, none) or a
// *catalog.ParamError for a value that does not fit a template.
func (c *Client) FetchMetadata(ctx context.Context, p *Provider, token string, known map[string]string) (map[string]string, error) {
	call := p.preset().Metadata.Call
	if call == nil {
		return nil, nil
	}
	vals := p.values(known)
	req, err := p.metadataRequest(p.allow(ctx), call, token, vals)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(req.Context(), MetadataTimeoutDefault)
	defer cancel()
	doc, err := c.getJSON(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	item, err := pickItem(doc, call, p.preset().Value(call.MatchParam, vals))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	pick(item, call.Values, out)
	p.dropRefused(out)
	return out, nil
}

// metadataRequest builds the metadata call's request.
func (p *Provider) metadataRequest(ctx context.Context, call *catalog.MetadataCall, token string, vals map[string]string) (*http.Request, error) {
	u, err := p.entryURL(call.URL, vals)
	if err != nil {
		return nil, err
	}
	headers, err := p.preset().FillValues(call.Headers, vals)
	if err != nil {
		return nil, err
	}
	method := call.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if call.Body != "" {
		body = strings.NewReader(call.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &MetadataError{Kind: MetadataCallFailed, Err: errors.New("the call's URL is not valid")}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	p.PresentToken(req.Header, token)
	if call.TokenPrefix != "" {
		p.presentWith(req.Header, call.TokenPrefix, token)
	}
	return req, nil
}

// getJSON sends req and decodes a 2xx JSON answer.
func (c *Client) getJSON(req *http.Request) (any, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return nil, &MetadataError{Kind: MetadataTimeout}
		}
		return nil, &MetadataError{Kind: MetadataCallFailed, Err: scrubURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &MetadataError{Kind: MetadataTimeout, StatusCode: resp.StatusCode}
		}
		return nil, &MetadataError{Kind: MetadataCallFailed, StatusCode: resp.StatusCode, Err: errors.New("the answer was cut off")}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &MetadataError{Kind: MetadataCallFailed, StatusCode: resp.StatusCode}
	}
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return nil, &MetadataError{Kind: MetadataCallFailed, StatusCode: resp.StatusCode, Err: errors.New("the answer is not JSON")}
	}
	return doc, nil
}

// pickItem returns the item of doc that the call's rule picks: the first; the only one; or
// the one whose MatchField equals want (with no value to match: the only one).
func pickItem(doc any, call *catalog.MetadataCall, want string) (any, error) {
	x, _ := catalog.Lookup(doc, call.Items)
	var items []any
	switch v := x.(type) {
	case []any:
		items = v
	case map[string]any:
		items = []any{v}
	}
	if len(items) == 0 {
		return nil, &MetadataError{Kind: MetadataNone}
	}
	rule := call.Pick
	if rule == catalog.PickMatch && want == "" {
		rule = catalog.PickOnly
	}
	switch rule {
	case catalog.PickFirst:
		return items[0], nil
	case catalog.PickOnly:
		if len(items) > 1 {
			return nil, &MetadataError{Kind: MetadataSeveral, Count: len(items)}
		}
		return items[0], nil
	}
	for _, it := range items {
		if v, ok := catalog.Lookup(it, call.MatchField); ok {
			if s, _ := catalog.Scalar(v); s == want {
				return it, nil
			}
		}
	}
	return nil, &MetadataError{Kind: MetadataNone}
}
