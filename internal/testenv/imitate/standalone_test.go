package imitate

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestBuildersAreProviders(t *testing.T) {
	if a, b := slices.Sorted(maps.Keys(builders())), slices.Sorted(maps.Keys(Providers())); !slices.Equal(a, b) {
		t.Fatalf("Start knows %v, Providers %v", a, b)
	}
	if _, err := Start("nope", Options{}); err == nil {
		t.Fatal("an unknown imitation started")
	}
}

// TestStartServesEachHostOnLoopback drives QuickBooks through its per-host loopback
// listeners as a program outside the test would: a plain HTTP client trusting CAPEM, the
// authorization endpoint followed as a browser does (302 to the redirect URI with code,
// state and realmId), the code exchange, and the API call with the realmId.
func TestStartServesEachHostOnLoopback(t *testing.T) {
	const redirect = "http://localhost:18080/callback"
	im, err := Start("quickbooks", Options{RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(im.CAPEM()) {
		t.Fatal("CAPEM is not a PEM certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, h := range im.Hosts() {
		if u := im.HostURL(h); !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Fatalf("HostURL(%s) = %q", h, u)
		}
	}
	if im.HostURL("evil.example") != "" {
		t.Fatal("HostURL of a host the imitation does not answer for")
	}
	q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"com.intuit.quickbooks.accounting"}, "state": {"st-1"}}
	cb := authorizeVia(t, c, im.HostURL("appcenter.intuit.com")+"/connect/oauth2?"+q.Encode(), redirect)
	realm := cb.Get("realmId")
	if cb.Get("code") == "" || cb.Get("state") != "st-1" || realm != im.Want.Metadata["realmId"] {
		t.Fatalf("callback %v", cb)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}}
	req, _ := http.NewRequest("POST", im.HostURL("oauth.platform.intuit.com")+"/oauth2/v1/tokens/bearer", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(im.Want.ClientID, im.Want.ClientSecret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status := doJSON(t, c, req, &tok); status != 200 || tok.AccessToken == "" {
		t.Fatalf("code exchange: %d", status)
	}
	req, _ = http.NewRequest("GET", im.HostURL("quickbooks.api.intuit.com")+"/v3/company/"+realm+"/companyinfo/"+realm, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var info struct{ CompanyInfo struct{ CompanyName string } }
	if status := doJSON(t, c, req, &info); status != 200 || info.CompanyInfo.CompanyName == "" {
		t.Fatalf("companyinfo: %d %+v", status, info)
	}
	if got := im.Requests()[len(im.Requests())-1].Host; got != "quickbooks.api.intuit.com" {
		t.Errorf("the API call was logged for host %q", got)
	}
	q.Set("client_id", "someone-else")
	resp, err := c.Get(im.HostURL("appcenter.intuit.com") + "/connect/oauth2?" + q.Encode())
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unknown client: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestAuthorizeEndpointRedirectsErrors: an error the provider sends back (an unknown
// scope) reaches the redirect URI, on the test server too.
func TestAuthorizeEndpointRedirectsErrors(t *testing.T) {
	im := Xero(t)
	q := url.Values{"client_id": {im.Want.ClientID}, "redirect_uri": {im.Want.RedirectURI}, "response_type": {"code"},
		"scope": {"openid nonsense"}, "state": {"st-2"}}
	cb := authorizeVia(t, im.Client, "https://login.xero.com/identity/connect/authorize?"+q.Encode(), im.Want.RedirectURI)
	if cb.Get("error") != "invalid_scope" || cb.Get("state") != "st-2" || cb.Get("code") != "" {
		t.Fatalf("callback %v", cb)
	}
}

// authorizeVia GETs authURL and returns the query of the redirect to redirect.
func authorizeVia(t *testing.T, c *http.Client, authURL, redirect string) url.Values {
	t.Helper()
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("authorization: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func doJSON(t *testing.T, c *http.Client, req *http.Request, v any) int {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
}
