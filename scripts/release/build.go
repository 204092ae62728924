package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// buildPlatform builds the provider and tokend for p into dir and archives them into o.out:
// the provider's zip and tokend's tar.gz, whose paths it returns.
func buildPlatform(o options, p platform, dir string, mtime time.Time) ([]string, error) {
	provider := filepath.Join(dir, exe(fmt.Sprintf("%s_v%s", providerName, o.version), p))
	if err := goBuild(o, p, ".", provider); err != nil {
		return nil, err
	}
	tokend := filepath.Join(dir, exe("tokend", p))
	if err := goBuild(o, p, "./tokend", tokend); err != nil {
		return nil, err
	}
	zipPath := filepath.Join(o.out, fmt.Sprintf("%s_%s_%s.zip", providerName, o.version, p))
	if err := writeZip(zipPath, mtime, []entry{{filepath.Base(provider), provider, 0o755}}); err != nil {
		return nil, err
	}
	tgzPath := filepath.Join(o.out, fmt.Sprintf("tokend_%s_%s.tar.gz", o.version, p))
	err := writeTarGz(tgzPath, mtime, []entry{
		{filepath.Base(tokend), tokend, 0o755},
		{"LICENSE", filepath.Join(o.root, "LICENSE"), 0o644},
		{"README.md", filepath.Join(o.root, "README.md"), 0o644},
	})
	if err != nil {
		return nil, err
	}
	return []string{zipPath, tgzPath}, nil
}

// exe adds .exe to name on Windows, as go build and GoReleaser do.
func exe(name string, p platform) string {
	if p.goos == "windows" {
		return name + ".exe"
	}
	return name
}

// ldflags are the linker flags of a release build (GNUmakefile's LDFLAGS with the version).
func ldflags(version string) string { return "-s -w -X main.version=" + version }

// goBuild builds the command in pkg (relative to o.root) for p into bin, with CGO_ENABLED=0
// and -trimpath, as .goreleaser.yml does; arm is built for ARMv6, GoReleaser's default.
func goBuild(o options, p platform, pkg, bin string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags(o.version), "-o", bin, pkg)
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.goos, "GOARCH="+p.goarch)
	if p.goarch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=6")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %v\n%s", pkg, p, err, out)
	}
	return nil
}
