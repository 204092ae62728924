package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconnection/terraform-provider-tailor/internal/oauth"
	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/internal/testenv/tailortest"
)

// TestBinaryClientCredentials creates two client-credentials connections with the tokend
// binary, one with a client secret on stdin (client_secret_basic) and one with a P-256 key
// file (private_key_jwt; create prints the public JWK Set to register, with the kid tokend
// puts in its assertions), then serves both: each token is active at Hydra for its own
// client, no authorize ran, and neither the secret nor the private key appears in any
// output or the server's log.
func TestBinaryClientCredentials(t *testing.T) {
	t.Parallel()
	env := tailortest.Start(t, testenv.HydraOptions{AccessTokenTTL: 5 * time.Second})
	bed := newTokendBed(t, env)
	keyPEM, keyFile := writeAssertionKey(t)
	creds, err := oauth.KeyCredentials("x", keyPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []any{creds.PublicJWK()}})
	cc := testenv.ClientSpec{GrantTypes: []string{"client_credentials"}, ResponseTypes: []string{"token"}, Scopes: []string{"read"}}
	basicSpec, jwtSpec := cc, cc
	basicSpec.TokenEndpointAuthMethod = "client_secret_basic"
	jwtSpec.TokenEndpointAuthMethod, jwtSpec.JWKS, jwtSpec.TokenEndpointAuthSigningAlg = "private_key_jwt", jwks, "ES256"
	basicID, secret := env.Hydra.CreateClient(t, basicSpec)
	jwtID, _ := env.Hydra.CreateClient(t, jwtSpec)
	secrets := []string{secret, keyPEM, pemBody(keyPEM)}

	common := []string{"--type", "TYPE_OAUTH2", "--provider-url", env.Hydra.Issuer, "--issuer-url", env.Hydra.Issuer,
		"--grant-type", "client_credentials", "--scopes", "read"}
	outputs := bed.runIn(t, secret+"\n", append([]string{"create", "--name", "svc-basic", "--client-id", basicID, "--client-secret-stdin"}, common...)...)
	printed := bed.runIn(t, "", append([]string{"create", "--name", "svc-jwt", "--client-id", jwtID,
		"--client-auth", "private_key_jwt", "--client-assertion-key-file", keyFile}, common...)...)
	checkPrintedJWKS(t, printed, creds.KeyID)
	outputs += printed

	key := bed.createKey(t, "--connections", "svc-*")
	p := bed.serve(t, "serve-cc")
	for name, client := range map[string]string{"svc-basic": basicID, "svc-jwt": jwtID} {
		resp, body := get(t, p.URL+"/v1/connections/"+name+"/token", key)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("GET token of %s: %d %s", name, resp.StatusCode, body)
		}
		if ir, err := env.Introspect(tok.AccessToken); err != nil || !ir.Active || ir.ClientID != client {
			t.Errorf("invariant «the served token is the client's own»: %s: %+v %v", name, ir, err)
		}
	}
	outputs += bed.runIn(t, "", "list")
	if !strings.Contains(outputs, "svc-jwt") {
		t.Errorf("tokend list lacks the connections:\n%s", outputs)
	}
	logged, _ := os.ReadFile(p.log)
	for i, s := range secrets {
		if strings.Contains(outputs, s) || strings.Contains(string(logged), s) {
			t.Errorf("invariant «no credential in output or logs»: credential #%d appears", i+1)
		}
	}
}

// checkPrintedJWKS: create printed a public JWK Set whose one key has kid and no private part.
func checkPrintedJWKS(t *testing.T, printed, kid string) {
	t.Helper()
	start := strings.Index(printed, "{")
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if start < 0 || json.NewDecoder(strings.NewReader(printed[start:])).Decode(&set) != nil || len(set.Keys) != 1 {
		t.Fatalf("create did not print a JWK Set:\n%s", printed)
	}
	k := set.Keys[0]
	if k["kid"] != kid || k["kty"] != "EC" || k["d"] != nil {
		t.Errorf("the printed JWK %v: want kid %s, kty EC and no private part", k, kid)
	}
}

// TestBinaryDeviceAuthorize runs `tokend authorize --device` against the device-flow
// provider of tools/oidc: stdout is the verification URL (with the code) and then the user
// code, Chromium approves on the provider's page, and the tokens land in Vault.
func TestBinaryDeviceAuthorize(t *testing.T) {
	t.Parallel()
	v := testenv.StartVault(t)
	op := testenv.StartOIDC(t, testenv.OIDCOptions{DeviceInterval: time.Second})
	b := testenv.StartBrowser(t)
	bed := &tokendBed{bin: buildTokend(t), environ: minimalEnv(t.TempDir(), v.Addr, "VAULT_TOKEN="+v.Token)}
	bed.runIn(t, op.ClientSecret+"\n", "create", "--name", "device", "--provider-url", op.Issuer, "--client-id", op.ClientID,
		"--client-secret-stdin", "--scopes", "openid,email,offline_access")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bed.bin, "authorize", "device", "--device", "--timeout", "90s")
	cmd.Env = bed.environ
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(stdout)
	url, _ := rd.ReadString('\n')
	code, _ := rd.ReadString('\n')
	if !strings.Contains(url, "user_code=") || strings.TrimSpace(code) == "" {
		t.Fatalf("stdout %q %q is not the verification URL and the user code\n%s", url, code, stderr.String())
	}
	if text, err := op.ApproveDevice(ctx, b, strings.TrimSpace(url), true); err != nil {
		t.Fatalf("approving on the device page: %v (%q)", err, text)
	}
	_, _ = io.Copy(io.Discard, rd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tokend authorize --device: %v\n%s", err, stderr.String())
	}
	st, err := store.New(v.Client(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := st.GetTokens(context.Background(), "device")
	if err != nil || ts.AccessToken == "" || ts.RefreshToken == "" {
		t.Fatalf("invariant «the device flow stores the tokens»: %v (refresh token stored: %v)", err, err == nil && ts.RefreshToken != "")
	}
	if strings.Contains(stderr.String(), ts.AccessToken) || strings.Contains(stderr.String(), ts.RefreshToken) {
		t.Error("invariant «no token in output»: tokend authorize --device printed a token")
	}
}

// writeAssertionKey writes a new P-256 key as PKCS #8 PEM into a 0600 file.
func writeAssertionKey(t *testing.T) (pemKey, path string) {
	t.Helper()
	_, pemKey = testenv.NewP256Key(t)
	path = filepath.Join(t.TempDir(), "assertion-key.pem")
	if err := os.WriteFile(path, []byte(pemKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return pemKey, path
}

// pemBody is the base64 of the key's first line, which a leak would carry even re-wrapped.
func pemBody(p string) string {
	lines := strings.Split(p, "\n")
	return lines[1]
}
