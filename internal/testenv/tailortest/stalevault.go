package tailortest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// StaleVault is a proxy in front of Vault that behaves like a standby that serves reads and
// has applied everything but the last write of each token record: it answers a read of a
// token record with the previous version, unless the request shows it needs the latest one.
// It honours Vault's consistency headers: X-Vault-Forward: active-node is forwarded (the
// current record); every write's answer carries an X-Vault-Index, and a read whose index
// is at or after the record's last write gets the current record (a real standby waits, or
// answers 412 until it has caught up, or forwards with X-Vault-Inconsistent:
// forward-active-node), while an older index may be served the previous version, as a
// standby that has applied that index may.
type StaleVault struct {
	URL string
	// Stale counts reads answered with the previous version; Current reads that got the
	// latest because of a header.
	Stale, Current atomic.Int64

	target *url.URL
	tokens *regexp.Regexp
	rp     *httputil.ReverseProxy

	mu        sync.Mutex
	writes    uint64            // the index: writes seen
	lastWrite map[string]uint64 // index of the last write per token record path
}

// NewStaleVault starts the proxy for the Vault at addr, for records under prefix of secret/.
func NewStaleVault(t testing.TB, addr, prefix string) *StaleVault {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &StaleVault{target: u, lastWrite: map[string]uint64{},
		tokens: regexp.MustCompile(`^/v1/secret/data/` + regexp.QuoteMeta(prefix) + `/connections/[^/]+/tokens$`)}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *StaleVault) serve(w http.ResponseWriter, r *http.Request) {
	isToken := p.tokens.MatchString(r.URL.Path)
	switch {
	case r.Method == http.MethodGet && isToken && r.URL.Query().Get("version") == "":
		if !p.read(w, r) {
			return
		}
	case r.Method != http.MethodGet:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		if rec.Code < 300 {
			p.wrote(w, r.URL.Path, isToken)
		}
		copyResponse(w, rec)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// read decides how a token-record read is answered; false when it has answered itself.
func (p *StaleVault) read(w http.ResponseWriter, r *http.Request) bool {
	idx, hasIdx := p.index(r.Header.Get("X-Vault-Index"))
	p.mu.Lock()
	needsLast := hasIdx && idx >= p.lastWrite[r.URL.Path]
	p.mu.Unlock()
	if needsLast || r.Header.Get("X-Vault-Forward") == "active-node" {
		p.Current.Add(1)
		return true
	}
	if v := p.currentVersion(r); v > 1 {
		q := r.URL.Query()
		q.Set("version", strconv.Itoa(v-1))
		r.URL.RawQuery = q.Encode()
		p.Stale.Add(1)
	}
	return true
}

// wrote records a write and returns its index in X-Vault-Index.
func (p *StaleVault) wrote(w http.ResponseWriter, path string, isToken bool) {
	p.mu.Lock()
	p.writes++
	n := p.writes
	if isToken {
		p.lastWrite[path] = n
	}
	p.mu.Unlock()
	w.Header().Set("X-Vault-Index", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("v1:stale-proxy:%d:0:00", n))))
}

// index parses an X-Vault-Index that this proxy issued.
func (p *StaleVault) index(h string) (uint64, bool) {
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil || h == "" {
		return 0, false
	}
	var n uint64
	if _, err := fmt.Sscanf(string(raw), "v1:stale-proxy:%d:", &n); err != nil {
		return 0, false
	}
	return n, true
}

// currentVersion reads the record's current version from its metadata.
func (p *StaleVault) currentVersion(r *http.Request) int {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, p.target.String()+regexp.MustCompile(`/data/`).ReplaceAllString(r.URL.Path, "/metadata/"), nil)
	req.Header.Set("X-Vault-Token", r.Header.Get("X-Vault-Token"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var md struct {
		Data struct {
			CurrentVersion int `json:"current_version"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&md)
	return md.Data.CurrentVersion
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
