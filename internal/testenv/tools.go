package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tool is an external program that the tests, the demo (examples/demo) and
// scripts/tools.sh need. Tools is the one place that says how each is found.
type Tool struct {
	// Name is the tool's name: bin/<Name> and $TAILOR_<NAME>.
	Name string
	// Names are the executables tried on PATH, in order.
	Names []string
	// MinVersion is the oldest version accepted from PATH ("" accepts any); VersionArgs make
	// the program print its version.
	MinVersion  string
	VersionArgs []string
	// Paths are fixed locations tried last.
	Paths []string
	// Install says how to get the tool.
	Install string
}

// Tools are the external programs, by name.
var Tools = map[string]Tool{
	"vault": {Name: "vault", Names: []string{"vault"}, MinVersion: "1.15.0", VersionArgs: []string{"version"},
		Install: "run `make tools` (scripts/tools.sh builds it from tools/vault into bin/), set TAILOR_VAULT to a vault binary, or put vault 1.15+ on PATH"},
	"tofu": {Name: "tofu", Names: []string{"tofu"}, MinVersion: "1.11.0", VersionArgs: []string{"version"},
		Install: "run `make tools` (scripts/tools.sh builds it from tools/tofu into bin/), set TAILOR_TOFU to a tofu binary, or put tofu 1.11+ on PATH"},
	"hydra": {Name: "hydra", Names: []string{"hydra"}, MinVersion: "2.3.0", VersionArgs: []string{"version"},
		Install: "run `make tools` (scripts/tools.sh builds it from tools/hydra into bin/), set TAILOR_HYDRA to a hydra binary, or put hydra 2.3+ on PATH"},
	"helm": {Name: "helm", Names: []string{"helm"}, MinVersion: "4.3.0", VersionArgs: []string{"version", "--short"},
		Install: "run `make tools` (scripts/tools.sh builds it from tools/helm into bin/), set TAILOR_HELM to a helm binary, or put helm 4.3+ on PATH"},
	"staticcheck": {Name: "staticcheck",
		Install: "run `make tools` (scripts/tools.sh builds it from tools/staticcheck into bin/), or set TAILOR_STATICCHECK"},
	"oidc": {Name: "oidc",
		Install: "run `make tools` (scripts/tools.sh builds tools/oidc, the device-flow provider on github.com/zitadel/oidc, into bin/), or set TAILOR_OIDC"},
	"chromium": {Name: "chromium", Names: []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"},
		Paths:   []string{"/usr/bin/chromium"},
		Install: "run `apt-get install chromium` (Debian/Ubuntu; `make tools` does it as root), or set TAILOR_CHROMIUM to a Chromium or Chrome binary"},
	"node": {Name: "node", Names: []string{"node", "nodejs"}, MinVersion: "20.0.0", VersionArgs: []string{"--version"},
		Install: "install Node.js 20 or later (Debian: apt-get install nodejs; `make tools` does it as root), or set TAILOR_NODE"},
}

// ErrToolMissing is matched (errors.Is) by FindTool's error for a tool that is not there.
var ErrToolMissing = errors.New("tool not found")

var found sync.Map // name and PATH -> path, for tools found on PATH (their version was run)

// toolFor returns the entry of Tools for name, or a plain entry for any other program.
func toolFor(name string) Tool {
	if tool, ok := Tools[name]; ok {
		return tool
	}
	return Tool{Name: name, Names: []string{name}, Install: "put " + name + " on PATH or set TAILOR_" + strings.ToUpper(name)}
}

// FindTool returns the absolute path of the tool name, looking in this order:
//
//  1. $TAILOR_<NAME> (an error when it is set but not an executable file);
//  2. <repo>/bin/<name>, where scripts/tools.sh links the builds;
//  3. the tool's Names on PATH, when their version is at least MinVersion;
//  4. the tool's fixed Paths.
//
// A missing tool is an error that matches ErrToolMissing and says how to install it.
func FindTool(name string) (string, error) {
	tool := toolFor(name)
	envVar := "TAILOR_" + strings.ToUpper(name)
	if p := os.Getenv(envVar); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("testenv: %s=%q is not an executable file", envVar, p)
		}
		return filepath.Abs(p)
	}
	if root, err := RepoRoot(); err == nil {
		if p := filepath.Join(root, "bin", name); isExecutable(p) {
			return p, nil
		}
	}
	key := name + "\x00" + os.Getenv("PATH")
	if p, ok := found.Load(key); ok {
		return p.(string), nil
	}
	for _, n := range tool.Names {
		p, err := exec.LookPath(n)
		if err != nil || !tool.versionOK(p) {
			continue
		}
		if p, err = filepath.Abs(p); err == nil {
			found.Store(key, p)
			return p, nil
		}
	}
	for _, p := range tool.Paths {
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("testenv: %s not found in $%s, <repo>/bin or PATH: %w; to install it: %s", name, envVar, ErrToolMissing, tool.Install)
}

var versionRE = regexp.MustCompile(`[0-9]+\.[0-9]+\.[0-9]+`)

// versionOK reports whether the program at p prints a version of at least t.MinVersion.
func (t Tool) versionOK(p string) bool {
	if t.MinVersion == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, p, t.VersionArgs...).CombinedOutput()
	v := versionRE.FindString(string(out))
	return v != "" && versionAtLeast(v, t.MinVersion)
}

// versionAtLeast compares dotted version numbers.
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
