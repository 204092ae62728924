package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ephemeralTF is the second configuration: an ephemeral token used by a provisioner.
//
//go:embed ephemeral/main.tf
var ephemeralTF string

// checkScript reads TOKEN from its environment, asks Hydra's introspection endpoint about
// it, and writes (and prints) whom it belongs to: never the token.
const checkScript = `const r = await fetch(process.argv[2], {method: "POST", body: new URLSearchParams({token: process.env.TOKEN})});
const i = await r.json();
const line = "active=" + i.active + " client_id=" + i.client_id + " scope=" + i.scope + " token_use=" + i.token_use;
(await import("node:fs")).writeFileSync(process.argv[3], line + "\n");
console.log(line);
`

// clientCredentials shows the client-credentials connection: nobody authorized it, and
// tokend serves a token that Hydra issued to the service client.
func (d *demo) clientCredentials(ctx context.Context) error {
	tok, err := d.token("service-api")
	if err != nil {
		return err
	}
	info("GET /v1/connections/service-api/token -> token_type %s, expires_at %s (tokend asked Hydra with grant_type=client_credentials)", tok.TokenType, tok.ExpiresAt)
	ir, err := d.introspect(tok.AccessToken)
	if err != nil {
		return err
	}
	info("Hydra's introspection of that token: active=%v, client_id=%s (the service client), scope=%q", ir.Active, ir.ClientID, ir.Scope)
	if !ir.Active || ir.ClientID != d.serviceID {
		return fmt.Errorf("the served token is not an active token of client %s", d.serviceID)
	}
	out, _ := d.tokendCmd(ctx, "list")
	info("tokend list:\n%s", indent(string(out), "      "))
	return nil
}

// ephemeralToken applies examples/demo/ephemeral: OpenTofu gets a token from tokend
// through the ephemeral resource, a provisioner uses it, and it lands in no file.
func (d *demo) ephemeralToken(ctx context.Context) error {
	script, result := filepath.Join(d.tmp, "check-token.mjs"), filepath.Join(d.tmp, "introspection.txt")
	if err := os.WriteFile(script, []byte(checkScript), 0o600); err != nil {
		return err
	}
	info("examples/demo/ephemeral/main.tf:\n%s", indent(ephemeralTF, "      "))
	before, err := d.token("service-api")
	if err != nil {
		return err
	}
	command := fmt.Sprintf("%q %q %q %q", d.node, script, d.hydra.AdminURL+"/admin/oauth2/introspect", result)
	out, err := d.tofuApply(ctx, "tf-ephemeral", ephemeralTF, "TAILOR_TOKEND_URL="+d.tokendURL,
		"TAILOR_TOKEND_API_KEY="+d.apiKey, "TF_VAR_check_command="+command)
	if err != nil {
		return err
	}
	info("%s", lastLines(string(out), 2))
	seen, err := os.ReadFile(result)
	if err != nil {
		return fmt.Errorf("the provisioner did not run: %w", err)
	}
	info("the provisioner saw a token of: %s", strings.TrimSpace(string(seen)))
	after, err := d.token("service-api")
	if err != nil {
		return err
	}
	return d.searchWorkDir(filepath.Join(d.tmp, "tf-ephemeral"), out, before.AccessToken, after.AccessToken)
}

// searchWorkDir checks that no token appears in the tofu output or any file of dir (the
// state, the lock file, .terraform).
func (d *demo) searchWorkDir(dir string, output []byte, secrets ...string) error {
	files, err := searchDir(dir, output, secrets...)
	if err != nil {
		return err
	}
	info("the access token is in none of the %d files of the working directory (terraform.tfstate included) and not in the output", files)
	return nil
}

// searchDir checks that none of secrets appears in output or in any regular file under dir,
// and returns how many files it read.
func searchDir(dir string, output []byte, secrets ...string) (int, error) {
	files := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err // directories; symlinks (the provider binary), sockets
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if s != "" && bytes.Contains(b, []byte(s)) {
				return fmt.Errorf("a secret (an access token or client secret) is in %s", p)
			}
		}
		return nil
	})
	if err != nil {
		return files, err
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(output, []byte(s)) {
			return files, fmt.Errorf("a secret (an access token or client secret) is in the output")
		}
	}
	return files, nil
}

// servedToken is the token API's answer.
type servedToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at"`
}

// token gets the current token of connection name from tokend.
func (d *demo) token(name string) (*servedToken, error) {
	b, err := d.get("/v1/connections/"+name+"/token", d.apiKey)
	if err != nil {
		return nil, err
	}
	var t servedToken
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("unexpected answer from tokend for %s: %.200s", name, b)
	}
	return &t, nil
}

// introspection is the part of Hydra's introspection answer the demo shows.
type introspection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

func (d *demo) introspect(token string) (*introspection, error) {
	resp, err := http.PostForm(d.hydra.AdminURL+"/admin/oauth2/introspect", url.Values{"token": {token}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ir introspection
	if err := json.NewDecoder(resp.Body).Decode(&ir); err != nil {
		return nil, fmt.Errorf("introspection answer: %w", err)
	}
	return &ir, nil
}
