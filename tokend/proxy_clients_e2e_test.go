package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/authconnection/terraform-provider-tailor/tokend/client"
)

// checkClientsThroughProxy calls connection name's userinfo through a real tokend's proxy
// (base) with a proxy-only key, from both clients: the Go client's ProxyTransport under a
// plain http.Client, and the JavaScript module's tailor.authconnection.fetch in node. Each
// must get the subject wantSub, without ever holding a token.
func checkClientsThroughProxy(t *testing.T, base, key, name, wantSub string) {
	t.Helper()
	if conn, err := client.New(base, key).Connection(context.Background(), name); err != nil || conn.Status != "authorized" {
		t.Errorf("client.Connection with a proxy-only key: %+v, %v", conn, err)
	}
	hc := &http.Client{Transport: client.New(base, key).ProxyTransport(name, nil)}
	resp, err := hc.Get("https://api.example.invalid/userinfo")
	if err != nil {
		t.Fatalf("Go client through the proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &info) != nil || info.Sub != wantSub {
		t.Errorf("Go client through the proxy: %d %s", resp.StatusCode, body)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node", "install Node.js 20 or later")
	}
	root, _ := testenv.RepoRoot()
	script := `import("` + filepath.ToSlash(filepath.Join(root, "functions", "js", "tailor-authconnection.mjs")) + `").then(async () => {
  const res = await tailor.authconnection.fetch(process.env.CONN, "userinfo");
  console.log(res.status, (await res.json()).sub, res.headers.get("tailor-proxy-attempts"));
});`
	cmd := exec.Command(node, "-e", script)
	cmd.Env = append(os.Environ(), "TAILOR_TOKEND_URL="+base, "TAILOR_TOKEND_API_KEY="+key, "CONN="+name)
	out, err := cmd.CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "200 "+wantSub+" 1" {
		t.Errorf("tailor.authconnection.fetch through the proxy: %v, printed %q (want \"200 %s 1\")", err, got, wantSub)
	}
}
