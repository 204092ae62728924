package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxyTransportRoutesThroughTokend: a library request for the API's own URL reaches
// tokend's proxy route with the API key, path and query kept, the caller's Authorization
// replaced, and the body streamed; the answer comes back as tokend sent it.
func TestProxyTransportRoutesThroughTokend(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Tailor-Proxy-Attempts", "1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: New(srv.URL, "tk_key").ProxyTransport("quickbooks-oauth", nil)}
	req, _ := http.NewRequest(http.MethodPost, "https://quickbooks.api.intuit.com/v3/company/9130/invoice?minorversion=75", strings.NewReader(`{"Line":[]}`))
	req.Header.Set("Authorization", "Bearer a-token-the-library-had")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || string(b) != `{"ok":true}` || resp.Header.Get("Tailor-Proxy-Attempts") != "1" {
		t.Fatalf("answer %d %s %v", resp.StatusCode, b, resp.Header)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/v1/connections/quickbooks-oauth/proxy/v3/company/9130/invoice" ||
		got.URL.RawQuery != "minorversion=75" || body != `{"Line":[]}` {
		t.Errorf("tokend got %s %s?%s body %q", got.Method, got.URL.Path, got.URL.RawQuery, body)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer tk_key" {
		t.Errorf("Authorization to tokend %q, want the API key", a)
	}
	if got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("the caller's other headers must pass: %v", got.Header)
	}
}
