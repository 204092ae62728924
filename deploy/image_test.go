package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

// caBundle is the CA bundle that the image carries, taken from the build machine.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// ociImage is an image read back from an OCI image layout.
type ociImage struct {
	config struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User         string              `json:"User"`
			Entrypoint   []string            `json:"Entrypoint"`
			Cmd          []string            `json:"Cmd"`
			Env          []string            `json:"Env"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	layers [][]byte // uncompressed tar of each layer
}

// buildImage builds tools/image and, with it, tokend's image as an OCI layout from the static
// tokend and the CA bundle; it returns the layout's directory.
func buildImage(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(caBundle); err != nil {
		t.Fatalf("the CA bundle for the image: %v (Debian's ca-certificates)", err)
	}
	builder := filepath.Join(work, "image")
	build(t, filepath.Join(repoRoot(t), "tools", "image"), []string{"GOWORK=off", "CGO_ENABLED=0"}, "-o", builder, ".")
	out := filepath.Join(t.TempDir(), "oci")
	if o, e, err := run(builder, []string{"SOURCE_DATE_EPOCH=0"}, "-binary", staticTokend(t), "-ca", caBundle, "-out", out); err != nil {
		t.Fatalf("tools/image: %v\n%s%s", err, o, e)
	}
	return out
}

// blob reads the blob digest ("sha256:...") of the layout dir and checks its digest.
func blob(t *testing.T, dir, digest string) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hexDigest))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexDigest {
		t.Fatalf("blob %s does not match its digest", digest)
	}
	return b
}

// readImage reads the one image of the layout dir: its index, manifest, config and layers.
func readImage(t *testing.T, dir string) ociImage {
	t.Helper()
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	}
	var index struct{ Manifests []descriptor }
	var manifest struct {
		Config descriptor
		Layers []descriptor
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d manifests, want 1", err, len(index.Manifests))
	}
	if err := json.Unmarshal(blob(t, dir, index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var img ociImage
	if err := json.Unmarshal(blob(t, dir, manifest.Config.Digest), &img.config); err != nil {
		t.Fatal(err)
	}
	for _, l := range manifest.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer media type %q", l.MediaType)
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob(t, dir, l.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		img.layers = append(img.layers, raw)
	}
	return img
}

func TestContainerImage(t *testing.T) {
	img := readImage(t, buildImage(t))
	t.Run("config", func(t *testing.T) { checkImageConfig(t, img) })
	t.Run("layer", func(t *testing.T) { checkImageLayer(t, img) })
	t.Run("dockerfile", func(t *testing.T) { checkDockerfile(t, img) })
	t.Run("runs", func(t *testing.T) { checkImageRuns(t, img) })
}

// checkImageConfig: user 65532, tokend as the entrypoint, no shell, the chart's port.
func checkImageConfig(t *testing.T, img ociImage) {
	c := img.config
	if c.OS != "linux" || c.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", c.OS, c.Architecture, runtime.GOARCH)
	}
	if c.Config.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", c.Config.User)
	}
	if !slices.Equal(c.Config.Entrypoint, []string{"/tokend"}) {
		t.Errorf("Entrypoint %q, want [/tokend]", c.Config.Entrypoint)
	}
	for _, a := range append(slices.Clone(c.Config.Entrypoint), c.Config.Cmd...) {
		if strings.Contains(a, "sh") && strings.HasPrefix(a, "/") {
			t.Errorf("the command runs a shell: %q", a)
		}
	}
	if _, ok := c.Config.ExposedPorts["8787/tcp"]; !ok {
		t.Errorf("ExposedPorts %v, want 8787/tcp", c.Config.ExposedPorts)
	}
	if len(c.RootFS.DiffIDs) != len(img.layers) {
		t.Fatalf("%d diff ids for %d layers", len(c.RootFS.DiffIDs), len(img.layers))
	}
	for i, l := range img.layers {
		if sum := sha256.Sum256(l); "sha256:"+hex.EncodeToString(sum[:]) != c.RootFS.DiffIDs[i] {
			t.Errorf("layer %d does not match the config's diff id", i)
		}
	}
}

// layerFile is one entry of a layer.
type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles reads the entries of an uncompressed layer.
func layerFiles(t *testing.T, layer []byte) map[string]layerFile {
	t.Helper()
	files := map[string]layerFile{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = layerFile{h, b}
	}
}

// checkImageLayer: one layer with the binary, the CA bundle and their directories only.
func checkImageLayer(t *testing.T, img ociImage) {
	if len(img.layers) != 1 {
		t.Fatalf("%d layers, want 1", len(img.layers))
	}
	files := layerFiles(t, img.layers[0])
	var names []string
	for n, f := range files {
		names = append(names, n)
		if f.hdr.Uid != 0 || f.hdr.Gid != 0 || f.hdr.Mode&0o222 != 0 && f.hdr.Typeflag != tar.TypeDir {
			t.Errorf("%s: owner %d:%d mode %o; want root-owned and read-only", n, f.hdr.Uid, f.hdr.Gid, f.hdr.Mode)
		}
	}
	slices.Sort(names)
	want := []string{"etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt", "tokend"}
	if !slices.Equal(names, want) {
		t.Fatalf("layer holds %q, want %q", names, want)
	}
	bin, err := os.ReadFile(staticTokend(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["tokend"].data, bin) || files["tokend"].hdr.Mode&0o111 == 0 {
		t.Error("/tokend is not the built tokend, executable")
	}
	f, err := elf.NewFile(bytes.NewReader(files["tokend"].data))
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || len(libs) > 0 {
			t.Fatalf("/tokend is dynamically linked (%v): the image has no libc", libs)
		}
	}
}

// dockerfileFinalStage returns the instructions after the Dockerfile's last FROM, with the
// FROM line first, continuation lines joined.
func dockerfileFinalStage(t *testing.T) (build, final []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "container", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	i := len(lines) - 1
	for i >= 0 && !strings.HasPrefix(lines[i], "FROM ") {
		i--
	}
	if i <= 0 {
		t.Fatal("the Dockerfile has no build stage before its final FROM")
	}
	return lines[:i], lines[i:]
}

// instruction returns the argument of the last instruction op in stage.
func instruction(stage []string, op string) string {
	arg := ""
	for _, l := range stage {
		if a, ok := strings.CutPrefix(l, op+" "); ok {
			arg = strings.TrimSpace(a)
		}
	}
	return arg
}

// checkDockerfile: the Dockerfile builds a static binary with -trimpath and its final stage
// is the image that tools/image built: empty or distroless base, same user and command.
func checkDockerfile(t *testing.T, img ociImage) {
	buildStage, final := dockerfileFinalStage(t)
	if from := final[0]; from != "FROM scratch" && !regexp.MustCompile(`^FROM gcr\.io/distroless/static-debian12:nonroot`).MatchString(from) {
		t.Errorf("final stage %q, want scratch or distroless static nonroot", from)
	}
	goBuild := instruction(buildStage, "RUN")
	if !strings.Contains(goBuild, "CGO_ENABLED=0") || !strings.Contains(goBuild, "-trimpath") || !strings.Contains(goBuild, "./tokend") {
		t.Errorf("the build stage's last RUN %q is not CGO_ENABLED=0 go build -trimpath ./tokend", goBuild)
	}
	c := img.config.Config
	if u := instruction(final, "USER"); u != c.User {
		t.Errorf("Dockerfile USER %q, tools/image %q", u, c.User)
	}
	for op, want := range map[string][]string{"ENTRYPOINT": c.Entrypoint, "CMD": c.Cmd} {
		var got []string
		if err := json.Unmarshal([]byte(instruction(final, op)), &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("Dockerfile %s %q (exec form: %v), tools/image %q", op, instruction(final, op), err, want)
		}
	}
}

// checkImageRuns unpacks the layer into a directory and runs its entrypoint there, chrooted,
// as the image's user: the binary needs nothing else from the image.
func checkImageRuns(t *testing.T, img ociImage) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "root (the chroot that runs the image's entrypoint needs it)", "run the test as root, as CI does (sudo -E go test -run TestContainerImage ./deploy/)")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, f := range layerFiles(t, img.layers[0]) {
		p := filepath.Join(root, name)
		var err error
		if f.hdr.Typeflag == tar.TypeDir {
			err = os.MkdirAll(p, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, f.data, os.FileMode(f.hdr.Mode))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(img.config.Config.Entrypoint[0], "--version")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tokend") {
		t.Errorf("/tokend --version in the image's files as 65532: %v\n%s", err, out)
	}
}
