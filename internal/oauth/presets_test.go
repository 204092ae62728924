package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/authconn"
	"github.com/authconnection/terraform-provider-tailor/internal/catalog"
)

// TestPresetTable checks what every preset must declare: a unique name and hosts, https
// endpoints once the tenant is filled in, and the texts shown when something goes wrong.
func TestPresetTable(t *testing.T) {
	seenHost := map[string]string{}
	names := []string{Generic.Name}
	for _, p := range append(slices.Clone(Presets), Generic) {
		if p.NoRefreshTokenAdvice == "" || p.RedirectNotes == "" {
			t.Errorf("preset %q lacks its no-refresh-token advice or redirect notes", p.Name)
		}
		if p == Generic {
			continue
		}
		if slices.Contains(names, p.Name) {
			t.Errorf("preset name %q is used twice", p.Name)
		}
		names = append(names, p.Name)
		if len(p.Hosts) == 0 {
			t.Errorf("preset %q has no hosts", p.Name)
		}
		for _, h := range p.Hosts {
			if other, ok := seenHost[h]; ok {
				t.Errorf("host %s selects both %q and %q", h, other, p.Name)
			}
			seenHost[h] = p.Name
		}
		e, _ := p.fill(p.params(sampleParams(p), &url.URL{Scheme: "https", Host: p.Hosts[0], Path: "/tenant-x"}))
		for field, v := range map[string]string{"issuer": e.Issuer, "auth": e.AuthURL, "token": e.TokenURL, "revocation": e.RevocationURL} {
			if v == "" && (field == "issuer" || field == "revocation") {
				continue // not every provider is OpenID Connect or has RFC 7009
			}
			if v == "" && field == "auth" && !slices.Contains(p.Grants(), catalog.GrantAuthorizationCode) {
				continue // application permissions: no user, no authorization endpoint
			}
			if err := authconn.ValidateURL(field, v); err != nil || strings.Contains(v, "{") {
				t.Errorf("preset %q: %s endpoint %q: %v", p.Name, field, v, err)
			}
		}
	}
}

// sampleParams gives "tenant-x" to each parameter of p without a default that a connection
// must set (its pattern takes such a name: a shop, a subdomain), or else "tenant-x" in place
// of the first label of p's first host (a whole host: tenant-x.okta.com).
func sampleParams(p *Preset) map[string]string {
	out := map[string]string{}
	_, domain, _ := strings.Cut(p.Hosts[0], ".")
	for _, d := range p.Params {
		for _, v := range []string{"tenant-x", "tenant-x." + domain} {
			if d.Default == "" && out[d.Name] == "" && regexp.MustCompile(d.Pattern).MatchString(v) {
				out[d.Name] = v
			}
		}
	}
	return out
}

// TestNoProviderNameChecksOutsideThePresets keeps provider knowledge in the Presets table:
// no code compares a provider's name to decide behaviour.
func TestNoProviderNameChecksOutsideThePresets(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range Presets {
		names = append(names, p.Name)
	}
	re := regexp.MustCompile(`(Name\(\)|\.Name)\s*[!=]=\s*"(` + strings.Join(names, "|") + `)"|case "(` + strings.Join(names, "|") + `)"`)
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if slices.Contains([]string{"tools", ".git", "node_modules"}, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if m := re.Find(b); m != nil {
			t.Errorf("%s decides by provider name (%s): declare the behaviour in the preset instead", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// githubImitation answers like GitHub's token endpoint: JSON only for Accept:
// application/json (form-encoded otherwise), errors with HTTP 200 and GitHub's own codes,
// and, for a GitHub App with expiring user tokens, 8-hour access tokens with a rotating
// 6-month refresh token.
func githubImitation(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		var body map[string]any
		switch {
		case r.PostForm.Get("client_secret") != "gh-secret":
			body = map[string]any{"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect."}
		case r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") != "ghr_valid":
			body = map[string]any{"error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired."}
		default:
			body = map[string]any{"access_token": "ghu_new", "expires_in": 28800, "refresh_token": "ghr_next",
				"refresh_token_expires_in": 15897600, "token_type": "bearer", "scope": ""}
		}
		if r.Header.Get("Accept") != "application/json" {
			v := url.Values{}
			for k, x := range body {
				v.Set(k, strings.Trim(strings.TrimSpace(string(must(json.Marshal(x)))), `"`))
			}
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			_, _ = w.Write([]byte(v.Encode()))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestGitHubPreset(t *testing.T) {
	srv := githubImitation(t)
	p, err := (&Client{}).Resolve(context.Background(), &authconn.Connection{ProviderURL: "https://github.com", TokenURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "github" || p.AuthURL != "https://github.com/login/oauth/authorize" || p.RevocationURL != "" {
		t.Fatalf("github provider: %s %+v", p.Name(), p.Endpoints)
	}
	c := &Client{Now: func() time.Time { return fixedNow }}
	tok, err := c.Refresh(context.Background(), p, Credentials{ClientID: "Iv1.abc", ClientSecret: "gh-secret"}, "ghr_valid", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "ghu_new" || tok.RefreshToken != "ghr_next" || tok.ExpiresIn != 8*time.Hour || tok.RefreshExpiresIn != 15897600*time.Second {
		t.Fatalf("github refresh answer (Accept: application/json must be sent): %s rt %v, rt lifetime %v", tok, tok.RefreshToken != "", tok.RefreshExpiresIn)
	}
	_, err = c.Refresh(context.Background(), p, Credentials{ClientID: "Iv1.abc", ClientSecret: "gh-secret"}, "ghr_spent", nil)
	if !IsInvalidGrant(err) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("GitHub's bad_refresh_token (HTTP 200) must be invalid_grant: %v", err)
	}
	_, err = c.Refresh(context.Background(), p, Credentials{ClientID: "Iv1.abc", ClientSecret: "wrong"}, "ghr_valid", nil)
	if KindOf(err) != KindInvalidClient {
		t.Fatalf("GitHub's incorrect_client_credentials must be invalid_client: %v", err)
	}
	a := p.NewAuthRequest(Credentials{ClientID: "Iv1.abc"}, "http://localhost:8080/callback", []string{"repo", "read:user"})
	q, _ := url.ParseQuery(strings.SplitN(a.URL, "?", 2)[1])
	if q.Get("scope") != "repo read:user" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") != "" {
		t.Fatalf("github authorization URL query %v", q)
	}
}

// TestValidAfterRefreshFollowsThePreset: a token from a provider whose preset keeps the
// previous access token valid (Google) says so, for the broker to serve it through the next
// refresh; one from a preset without the promise (GitHub) does not.
func TestValidAfterRefreshFollowsThePreset(t *testing.T) {
	srv := githubImitation(t) // any JSON token endpoint will do for Google too
	c := &Client{Now: func() time.Time { return fixedNow }}
	for providerURL, want := range map[string]bool{"https://accounts.google.com": true, "https://github.com": false} {
		p, err := (&Client{}).Resolve(context.Background(), &authconn.Connection{ProviderURL: providerURL, TokenURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if p.KeepsPreviousAccessToken() != want {
			t.Fatalf("%s: preset %s keeps the previous token = %v", providerURL, p.Name(), !want)
		}
		tok, err := c.Refresh(context.Background(), p, Credentials{ClientID: "Iv1.abc", ClientSecret: "gh-secret"}, "ghr_valid", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok.ValidAfterRefresh != want {
			t.Errorf("invariant «the token carries its provider's promise»: %s (%s): ValidAfterRefresh %v, want %v", providerURL, p.Name(), tok.ValidAfterRefresh, want)
		}
	}
}
