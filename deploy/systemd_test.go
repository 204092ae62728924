package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// unit is a parsed systemd unit file: each key's values, in order ("Section.Key").
type unit map[string][]string

// parseUnit reads a unit or environment file. Comments and blank lines are skipped; keys
// of a unit are named "Section.Key", those of an environment file only "Key".
func parseUnit(t *testing.T, p string) unit {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]") + "."
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a key=value line: %q", p, line)
			}
			u[section+k] = append(u[section+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func unitPath(t *testing.T) string {
	return filepath.Join(repoRoot(t), "deploy", "systemd", "tokend.service")
}

// installedUnit copies the unit into a temporary directory with ExecStart pointing at a
// built tokend, so that systemd-analyze finds the program, and returns the copy's path.
func installedUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(unitPath(t))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/tokend `)
	if !re.Match(b) {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/tokend")
	}
	b = re.ReplaceAll(b, []byte("ExecStart="+staticTokend(t)+" "))
	p := filepath.Join(t.TempDir(), "tokend.service")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.Binary(t, "systemd-analyze")
	out, stderr, err := run(analyze, nil, "verify", installedUnit(t))
	if err != nil || strings.TrimSpace(out+stderr) != "" {
		t.Errorf("systemd-analyze verify: %v; it should say nothing:\n%s%s", err, out, stderr)
	}
}

func TestSystemdUnitExposure(t *testing.T) {
	analyze := testenv.Binary(t, "systemd-analyze")
	help, _, _ := run(analyze, nil, "security", "--help")
	if !strings.Contains(help, "--offline") {
		testenv.Require(t, "systemd-analyze with `security --offline` (systemd 250 or later)", "install systemd 250 or later (Debian 12 has 252: apt-get install systemd; systemd-analyze comes with it)")
	}
	// --threshold is on systemd's 0-100 scale: 20 is an exposure of 2.0, "OK".
	out, stderr, err := run(analyze, nil, "security", "--offline=yes", "--threshold=20", installedUnit(t))
	score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+ \S+)`).FindStringSubmatch(out)
	if score == nil {
		t.Fatalf("no exposure level in systemd-analyze security's output: %v\n%s%s", err, out, stderr)
	}
	t.Logf("systemd-analyze security --offline=yes: exposure %s", score[1])
	if err != nil {
		t.Errorf("exposure %s is above 2.0: %v\n%s", score[1], err, out)
	}
}

func TestSystemdUnitIsHardened(t *testing.T) {
	u := parseUnit(t, unitPath(t))
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "NoNewPrivileges": "yes", "ProtectKernelTunables": "yes",
		"ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
		"Restart": "on-failure", "EnvironmentFile": "/etc/tokend/tokend.env",
	} {
		if got := u["Service."+key]; !slices.Equal(got, []string{want}) {
			t.Errorf("%s=%q, want exactly %q", key, got, want)
		}
	}
	if f := u["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}
	if u["Service.User"] != nil || u["Service.AmbientCapabilities"] == nil {
		t.Errorf("User=%q AmbientCapabilities=%q: want the dynamic user and no ambient capabilities", u["Service.User"], u["Service.AmbientCapabilities"])
	}
}

// secretName matches environment variables that would hold a secret's value.
var secretName = regexp.MustCompile(`(^|_)(TOKEN|SECRET|PASSWORD|API_KEY|KEY|JWT)(_|$)`)

func TestSystemdUnitHoldsNoSecret(t *testing.T) {
	u := parseUnit(t, unitPath(t))
	if !slices.Contains(u["Service.LoadCredential"], "vault-secret-id:/etc/tokend/vault-secret-id") {
		t.Errorf("LoadCredential=%q, want the AppRole secret id as the credential vault-secret-id", u["Service.LoadCredential"])
	}
	vars := map[string]string{}
	for _, e := range u["Service.Environment"] {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	if vars["VAULT_SECRET_ID_FILE"] != "%d/vault-secret-id" {
		t.Errorf("VAULT_SECRET_ID_FILE=%q, want the credential's path %%d/vault-secret-id", vars["VAULT_SECRET_ID_FILE"])
	}
	example := parseUnit(t, filepath.Join(repoRoot(t), "deploy", "systemd", "tokend.env.example"))
	for k, v := range example {
		vars[k] = v[0]
	}
	for k, v := range vars {
		if secretName.MatchString(k) && !strings.HasPrefix(v, "%d/") {
			t.Errorf("%s=%q is set in the unit or tokend.env.example: secrets are credentials (%%d/...)", k, v)
		}
	}
	if example["VAULT_ADDR"] == nil || example["TAILOR_PATH_PREFIX"] == nil {
		t.Errorf("tokend.env.example lacks VAULT_ADDR or TAILOR_PATH_PREFIX: %v", example)
	}
}
