package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// proxyKeyDescription is the description of the demo's proxy-only API key, which its audit
// records carry.
const proxyKeyDescription = "demo proxy function"

// googleStandIn plays www.googleapis.com for the proxy variant of the seed's example: it
// answers GET /oauth2/v2/userinfo with Hydra's /userinfo, the token tokend's proxy added
// passed on. It is google-oauth's proxy_base_url (examples/demo/main.tf).
type googleStandIn struct {
	url   string
	calls atomic.Int32
}

// startGoogleStandIn starts the stand-in on a loopback port, in front of Hydra.
func (d *demo) startGoogleStandIn() error {
	hydra, err := url.Parse(d.hydra.PublicURL)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g := &googleStandIn{url: "http://" + ln.Addr().String()}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(hydra)
		r.Out.URL.Path, r.Out.URL.RawPath = "/userinfo", ""
	}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/oauth2/v2/userinfo" {
			http.NotFound(w, r)
			return
		}
		g.calls.Add(1)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	d.closers = append(d.closers, func() { _ = srv.Close() })
	d.google = g
	info("www.googleapis.com stand-in at %s: GET /oauth2/v2/userinfo -> %s/userinfo (google-oauth's proxy_base_url, for the proxy variant)", g.url, d.hydra.PublicURL)
	return nil
}

// proxyKey creates the proxy-only key of the proxy functions and shows that the token
// endpoint refuses it.
func (d *demo) proxyKey(ctx context.Context) error {
	out, err := d.tokendCmd(ctx, "keys", "create", "--connections", "google-oauth,quickbooks-oauth", "--allow", "proxy",
		"--description", proxyKeyDescription, "--audit-log", d.auditLog)
	if err != nil {
		return fmt.Errorf("keys create: %v %s", err, out)
	}
	d.proxyAPIKey = strings.TrimSpace(firstLine(string(out)))
	info("API key %s… created with --allow proxy (only the proxy, on google-oauth and quickbooks-oauth)", d.proxyAPIKey[:16])
	status, body, err := d.getStatus("/v1/connections/google-oauth/token", d.proxyAPIKey)
	if err != nil {
		return err
	}
	var e struct{ Error, Message string }
	_ = json.Unmarshal(body, &e)
	info("GET /v1/connections/google-oauth/token with it -> %d %s: %s", status, e.Error, e.Message)
	if status != http.StatusForbidden || e.Error != "forbidden" || bytes.Contains(body, []byte("access_token")) {
		return fmt.Errorf("the proxy-only key should get 403 forbidden on the token endpoint, got %d %s", status, body)
	}
	return nil
}

// proxyFunction runs the seed's example's proxy variant with the proxy-only key: Hydra's
// userinfo through tokend's proxy and the stand-in.
func (d *demo) proxyFunction(ctx context.Context) error {
	d.noteGoogleToken()
	out, err := d.runProxyFunction(ctx, "basic-usage-proxy.mjs")
	if err != nil {
		return err
	}
	var got struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.Sub != "demo@example.com" || d.google.calls.Load() == 0 {
		return fmt.Errorf("the function should return Hydra's userinfo with sub demo@example.com through the stand-in (%d calls): %s", d.google.calls.Load(), out)
	}
	info("function returned (Hydra's userinfo, through tokend's proxy and the stand-in; the function held no token):\n%s", indent(string(out), "      "))
	return nil
}

// quickbooksProxyFunction runs quickbooks-companyinfo-proxy.mjs with the proxy-only key: the
// realmId from getConnection, companyinfo from the imitation through tokend's proxy.
func (d *demo) quickbooksProxyFunction(ctx context.Context) error {
	out, err := d.runProxyFunction(ctx, "quickbooks-companyinfo-proxy.mjs")
	if err != nil {
		return err
	}
	var got struct {
		RealmID     string `json:"realmId"`
		CompanyName string `json:"companyName"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.CompanyName != d.companyName || got.RealmID != d.quickbooks.im.Want.Metadata["realmId"] {
		return fmt.Errorf("the function should return realmId %s and the company %q of the token variant: %s", d.quickbooks.im.Want.Metadata["realmId"], d.companyName, out)
	}
	info("GET /v1/connections/quickbooks-oauth (getConnection: metadata and api_base_url, no token), then the proxy to %s", d.quickbooks.im.HostURL("quickbooks.api.intuit.com"))
	info("function returned (the imitation's companyinfo, the same company as the token variant):\n%s", indent(string(out), "      "))
	return nil
}

// runProxyFunction runs functions/js/examples/FILE with the proxy-only key and returns what
// it printed.
func (d *demo) runProxyFunction(ctx context.Context, file string) ([]byte, error) {
	js := filepath.Join(d.repo, "functions", "js")
	cmd := exec.CommandContext(ctx, d.node, filepath.Join(js, "run-function.mjs"), filepath.Join(js, "examples", file))
	cmd.Env = append(os.Environ(), "TAILOR_TOKEND_URL="+d.tokendURL, "TAILOR_TOKEND_API_KEY="+d.proxyAPIKey)
	out, err := cmd.CombinedOutput()
	d.outputs = append(d.outputs, out...)
	if err != nil {
		return nil, fmt.Errorf("function %s: %v\n%s", file, err, out)
	}
	return out, nil
}

// auditRecord is the part of an audit record the demo shows.
type auditRecord struct {
	Caller struct {
		ID          string `json:"id"`
		Description string `json:"description"`
	} `json:"caller"`
	Connection     string `json:"connection"`
	Action         string `json:"action"`
	Outcome        string `json:"outcome"`
	Reason         string `json:"reason"`
	Method         string `json:"method"`
	Host           string `json:"host"`
	Path           string `json:"path"`
	UpstreamStatus int    `json:"upstream_status"`
	BytesOut       int64  `json:"bytes_out"`
	Attempts       int    `json:"attempts"`
}

func (r auditRecord) String() string {
	s := fmt.Sprintf("%s %s %s", r.Action, r.Connection, r.Outcome)
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	if r.Method != "" {
		s += fmt.Sprintf(": %s %s%s -> %d, %d bytes, %d attempt(s)", r.Method, r.Host, r.Path, r.UpstreamStatus, r.BytesOut, r.Attempts)
	}
	return s + fmt.Sprintf(" [key %s %q]", r.Caller.ID, r.Caller.Description)
}

// auditTrail shows the audit records of the proxy-only key (the refused token read and the
// proxy calls) and searches the audit file for every secret the demo knows.
func (d *demo) auditTrail(context.Context) error {
	id := keyID(d.proxyAPIKey)
	var recs []auditRecord
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if recs, err = d.auditRecords(id); err != nil {
			return err
		}
		if missing := missingAudit(recs); missing == "" {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no audit record of %s in %s (%d records of key %s)", missing, d.auditLog, len(recs), id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	info("%s, the records of key %s (one JSON object per line; docs/security.md, \"Audit trail\"):", d.auditLog, id)
	for _, r := range recs {
		info("  %s", r)
	}
	return d.searchAudit()
}

// missingAudit names what the proxy steps should have recorded and recs lacks, or "".
func missingAudit(recs []auditRecord) string {
	want := map[string]bool{"refused token read": false, "google-oauth proxy call": false, "quickbooks-oauth proxy call": false}
	for _, r := range recs {
		if r.Caller.Description != proxyKeyDescription {
			continue
		}
		switch {
		case r.Action == "token.read" && r.Outcome == "denied" && r.Reason == "forbidden":
			want["refused token read"] = true
		case r.Action == "proxy.call" && r.Outcome == "success" && r.UpstreamStatus == http.StatusOK && r.BytesOut > 0 && r.Host != "" && r.Path != "":
			want[r.Connection+" proxy call"] = true
		}
	}
	for _, w := range []string{"refused token read", "google-oauth proxy call", "quickbooks-oauth proxy call"} {
		if !want[w] {
			return w
		}
	}
	return ""
}

// auditRecords reads the audit file's records of API key id.
func (d *demo) auditRecords(id string) ([]auditRecord, error) {
	f, err := os.Open(d.auditLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []auditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r auditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: a line is not JSON: %w", d.auditLog, err)
		}
		if r.Caller.ID == id {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// searchAudit checks that no access token, client secret or API key the demo knows is in the
// audit file.
func (d *demo) searchAudit() error {
	secrets := []string{d.clientSecret, d.serviceSecret, d.hostedSecret, d.quickbooks.im.Want.ClientSecret, d.xero.im.Want.ClientSecret,
		d.apiKey, d.catalogKey, d.proxyAPIKey}
	d.noteGoogleToken()
	if _, err := d.catalogToken(d.quickbooks.name); err != nil {
		return err
	}
	secrets = append(append(secrets, d.catalogTokens...), d.googleTokens...)
	if _, err := searchDir(d.auditLog, nil, secrets...); err != nil {
		return err
	}
	info("no access token, client secret or API key in the audit file (%d secrets searched)", len(secrets))
	return nil
}

// noteGoogleToken adds google-oauth's current access token to those the audit file is
// searched for (the proxy presented it upstream).
func (d *demo) noteGoogleToken() {
	if t, err := d.token("google-oauth"); err == nil {
		d.googleTokens = append(d.googleTokens, t.AccessToken)
	}
}

// keyID is the id of a plain API key tk_<id>_<secret>.
func keyID(plain string) string {
	parts := strings.SplitN(plain, "_", 3)
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}

// getStatus gets path with key and returns the status and the body.
func (d *demo) getStatus(path, key string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, d.tokendURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}
