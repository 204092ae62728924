package imitate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Shopify imitates Shopify's authorization code grant for a standalone app on one store,
// acme-store.myshopify.com (the per-connection parameter "shop"), with expiring offline
// access tokens. Written from:
//   - https://shopify.dev/docs/apps/build/authentication-authorization/authenticate-standalone-apps
//     (redirect to the store's authorization page, validate the callback, exchange the code
//     for an offline access token, call the Admin API)
//   - https://shopify.dev/changelog/offline-access-tokens-now-support-expiry-and-refresh
//     (access_token, expires_in 3600 and refresh_token; refresh at the token endpoint)
//   - https://shopify.dev/docs/apps/build/security/credentials-and-data/use-expiring-offline-access-tokens
//     (an expiring token lasts one hour; the refresh token is replaced on every use)
//   - https://github.com/Shopify/shopify-app-php/issues/12 (expiring=1 asks for an expiring
//     token; without it the answer has no expires_in and no refresh_token)
//   - https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens (the Admin
//     API takes the token in X-Shopify-Access-Token)
//
// The code exchange has no grant_type and no redirect_uri; scopes are comma-separated; the
// callback carries shop, host, timestamp and an hmac of the query keyed with the secret.
func Shopify(t testing.TB) *Imitation { return start(t, shopify()) }

func shopify() *provider {
	shop := "acme-store.myshopify.com"
	p := &provider{
		name:  "shopify",
		hosts: []string{shop},
		want: Want{ClientID: "shopify-client-id", ClientSecret: "shpss_shopify_secret", RedirectURI: "https://app.example.test/callback",
			Scopes: []string{"read_products", "write_orders"}, Params: map[string]string{"shop": "acme-store"},
			Metadata: map[string]string{"shop": shop}, APIBase: "https://" + shop + "/admin/api/2025-10",
			APICheck: "https://" + shop + "/admin/api/2025-10/shop.json"},
		auth: authRules{host: shop, path: "/admin/oauth/authorize", scopeSeps: ",", required: []string{"scope"},
			scopes: []string{"read_products", "write_products", "read_orders", "write_orders"}, anyResponseType: true, pkce: pkceIgnored},
		token:  tokenRules{auth: authBody, body: bodyFormOrJSON, impliedGrant: "authorization_code", noRedirect: true, rotates: true, oldAccessValid: true},
		tenant: func(int) Tenant { return Tenant{ID: shop} },
	}
	p.consent = func(im *Imitation, g *grant, q url.Values) (url.Values, *ConsentError) {
		extra := url.Values{"shop": {shop}, "host": {"YWNtZS1zdG9yZS5teXNob3BpZnkuY29tL2FkbWlu"},
			"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
		return extra, nil
	}
	p.sign = func(im *Imitation, q url.Values) (string, string) {
		return "hmac", ShopifyHMAC(im.Want.ClientSecret, q)
	}
	p.routes = func(im *Imitation, mux *http.ServeMux) {
		mux.HandleFunc("POST "+shop+"/admin/oauth/access_token", im.shopifyToken)
		mux.HandleFunc("GET "+shop+"/admin/api/2025-10/shop.json", im.shopifyShop)
	}
	return p
}

// ShopifyHMAC is the hmac a Shopify callback carries: hex HMAC-SHA256, keyed with the client
// secret, of the query without hmac, its parameters sorted and joined as a query string.
func ShopifyHMAC(secret string, q url.Values) string {
	rest := url.Values{}
	for k, v := range q {
		if k != "hmac" {
			rest[k] = v
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(rest.Encode()))
	return hex.EncodeToString(m.Sum(nil))
}

func (im *Imitation) shopifyToken(w http.ResponseWriter, r *http.Request) {
	is, ferr := im.exchange(r)
	if ferr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ferr.rfc6749(), "error_description": ferr.desc})
		return
	}
	body := map[string]any{"access_token": is.access, "scope": is.g.scopeString(",")}
	if is.refreshed || is.params.Get("expiring") == "1" {
		body["expires_in"], body["refresh_token"] = 3600, is.refresh
		body["refresh_token_expires_in"] = 7776000
	} else {
		im.revoke(is.refresh, false)
	}
	writeJSON(w, http.StatusOK, body)
}

func (im *Imitation) shopifyShop(w http.ResponseWriter, r *http.Request) {
	if im.granted(r.Header.Get("X-Shopify-Access-Token")) == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"shop": map[string]any{"id": 548380009, "name": "Acme Store",
		"myshopify_domain": "acme-store.myshopify.com"}})
}
