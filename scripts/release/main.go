// Command release builds the release artifacts of terraform-provider-tailor and tokend into
// one directory, under the names the Terraform Registry and the OpenTofu Registry expect and
// that .goreleaser.yml produces too:
//
//	terraform-provider-tailor_{VERSION}_{OS}_{ARCH}.zip    the provider, terraform-provider-tailor_v{VERSION}
//	terraform-provider-tailor_{VERSION}_manifest.json       a copy of terraform-registry-manifest.json
//	tokend_{VERSION}_{OS}_{ARCH}.tar.gz                     tokend, LICENSE and README.md
//	terraform-provider-tailor_{VERSION}_SHA256SUMS          the SHA-256 of every file above
//	terraform-provider-tailor_{VERSION}_SHA256SUMS.sig      its detached binary OpenPGP signature
//
// Binaries are built with CGO_ENABLED=0, -trimpath and -ldflags "-s -w -X main.version=VERSION".
// Archive entries carry the time of the HEAD commit (or $SOURCE_DATE_EPOCH), so two builds of
// one commit are identical byte for byte. The signing key is an armored OpenPGP private key read
// from -gpg-key-file or from the environment variable GPG_PRIVATE_KEY, never from an argument;
// a key protected by a passphrase is decrypted with $GPG_PASSPHRASE.
//
// Without -snapshot, HEAD must carry the tag v{VERSION}, the work tree must be clean and a key
// must be given. With -snapshot those checks are skipped, and without a key the SHA256SUMS file
// is left unsigned.
//
//	go run ./scripts/release -version 0.1.0 -out dist -gpg-key-file release-key.asc
//	go run ./scripts/release -version 0.1.0 -platforms linux/amd64 -out dist -snapshot
//
// See docs/releasing.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// defaultPlatforms are the targets of the scaffolding's .goreleaser.yml: freebsd, windows,
// linux and darwin on amd64, 386, arm and arm64, without darwin/386, darwin/arm and windows/arm.
const defaultPlatforms = "darwin/amd64,darwin/arm64," +
	"freebsd/386,freebsd/amd64,freebsd/arm,freebsd/arm64," +
	"linux/386,linux/amd64,linux/arm,linux/arm64," +
	"windows/386,windows/amd64,windows/arm64"

// options is what one run builds, and where.
type options struct {
	version   string     // without the leading v: 0.1.0
	platforms []platform // targets, each built and archived
	out       string     // the directory of the artifacts; must be missing or empty
	snapshot  bool       // skip the tag and clean-tree checks; allow no signing key
	keyFile   string     // armored private key; empty: $GPG_PRIVATE_KEY
	root      string     // the repository root: go.mod, LICENSE, README.md, the manifest
	log       io.Writer  // progress messages
}

// platform is one GOOS/GOARCH target.
type platform struct{ goos, goarch string }

// String is the platform as GoReleaser and the registries name it: linux_amd64.
func (p platform) String() string { return p.goos + "_" + p.goarch }

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// parseFlags turns the command line into options; the repository root is -root, by
// default the working directory (make runs the script from the root).
func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	version := fs.String("version", "", "the version to release, as in the tag without its v: 0.1.0 (required)")
	platforms := fs.String("platforms", defaultPlatforms, "comma-separated GOOS/GOARCH targets")
	out := fs.String("out", "dist", "the directory of the artifacts; must be missing or empty")
	snapshot := fs.Bool("snapshot", false, "a build for testing: no tag or clean-tree check, and no signature without a key")
	rootDir := fs.String("root", ".", "the repository's root directory (holds go.mod)")
	keyFile := fs.String("gpg-key-file", "", "armored OpenPGP private key to sign SHA256SUMS with (default: $GPG_PRIVATE_KEY)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q (the key is read from -gpg-key-file or $GPG_PRIVATE_KEY)", fs.Args())
	}
	plats, err := parsePlatforms(*platforms)
	if err != nil {
		return options{}, err
	}
	root, err := moduleRoot(*rootDir)
	if err != nil {
		return options{}, err
	}
	return options{version: *version, platforms: plats, out: *out, snapshot: *snapshot,
		keyFile: *keyFile, root: root, log: os.Stdout}, nil
}

// parsePlatforms reads "linux/amd64,darwin/arm64".
func parsePlatforms(s string) ([]platform, error) {
	var out []platform
	for _, f := range strings.Split(s, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(f), "/")
		if !ok || goos == "" || goarch == "" || strings.Contains(goarch, "/") {
			return nil, fmt.Errorf("platform %q: want GOOS/GOARCH, like linux/amd64", f)
		}
		out = append(out, platform{goos, goarch})
	}
	return out, nil
}

// moduleRoot returns dir as an absolute path, or an error when it holds no go.mod.
func moduleRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
		return "", fmt.Errorf("%s holds no go.mod: run from the repository's root, or pass -root", abs)
	}
	return abs, nil
}

// semverRE is a version as the registries accept it: MAJOR.MINOR.PATCH with an optional
// pre-release part.
var semverRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// checkVersion returns the version without a leading v, or an error when it is not semver.
func checkVersion(v string) (string, error) {
	v = strings.TrimPrefix(v, "v")
	if !semverRE.MatchString(v) {
		return "", fmt.Errorf("-version %q: want MAJOR.MINOR.PATCH[-PRERELEASE], like 0.1.0", v)
	}
	return v, nil
}
