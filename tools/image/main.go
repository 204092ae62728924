// Command image assembles tokend's container image without a Docker daemon: an OCI image
// layout (a directory that `crane push`, `skopeo copy oci:DIR docker://...` or
// `podman load` take) holding the final stage of deploy/container/Dockerfile, built on an
// empty base with github.com/google/go-containerregistry. The one layer holds the static
// tokend binary at /tokend and, with -ca, the CA bundle at
// /etc/ssl/certs/ca-certificates.crt; the config runs /tokend as user 65532 with no shell.
//
//	CGO_ENABLED=0 go build -trimpath -o /tmp/tokend ./tokend
//	go run -C tools/image . -binary /tmp/tokend -ca /etc/ssl/certs/ca-certificates.crt -out /tmp/tokend-oci
//
// The layer and config are reproducible: file times, and the image's creation time, are
// $SOURCE_DATE_EPOCH (0 when unset), and owners are root with read-only modes.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The final stage of deploy/container/Dockerfile; deploy's tests check that the two agree.
const (
	binaryPath = "/tokend"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	user       = "65532:65532"
	port       = "8787/tcp"
)

var (
	entrypoint = []string{binaryPath}
	cmd        = []string{"serve", "--listen=0.0.0.0:8787"}
)

func main() {
	binary := flag.String("binary", "", "static tokend binary (CGO_ENABLED=0) to put at "+binaryPath)
	ca := flag.String("ca", "", "PEM CA bundle to put at "+caPath+" (tokend needs it for HTTPS to providers and Vault)")
	out := flag.String("out", "", "directory to write the OCI image layout to (created)")
	ref := flag.String("ref", "tokend:dev", "the image's org.opencontainers.image.ref.name in the layout's index")
	arch := flag.String("arch", runtime.GOARCH, "the binary's architecture")
	flag.Parse()
	if *binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: image -binary FILE [-ca FILE] -out DIR [-ref NAME] [-arch ARCH]")
		os.Exit(2)
	}
	if err := run(*binary, *ca, *out, *ref, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// run builds the image and writes it to the layout at out.
func run(binary, ca, out, ref, arch string) error {
	files := []file{{name: binaryPath, src: binary, mode: 0o555}}
	if ca != "" {
		files = append(files, file{name: caPath, src: ca, mode: 0o444})
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	img, err := build(files, arch, created)
	if err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
}

// file is one regular file of the layer: its path in the image, where to read it, its mode.
type file struct {
	name, src string
	mode      int64
}

// build returns the image: an empty base, one layer of files, and tokend's config.
func build(files []file, arch string, created time.Time) (v1.Image, error) {
	archive, err := layerTar(files, created)
	if err != nil {
		return nil, err
	}
	layer, err := newLayer(archive)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "tools/image: COPY tokend (and the CA bundle)",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", v1.Time{Time: created}
	cf.Config = v1.Config{
		User: user, Entrypoint: entrypoint, Cmd: cmd, WorkingDir: "/",
		ExposedPorts: map[string]struct{}{port: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "tokend",
			"org.opencontainers.image.licenses": "MPL-2.0",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// newLayer wraps an uncompressed tar as a gzip-compressed OCI layer.
func newLayer(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// layerTar writes files, and the directories above them, into a tar archive.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for _, d := range parents(f.name) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime}); err != nil {
				return nil, err
			}
		}
		b, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name[1:], Mode: f.mode, Size: int64(len(b)), ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

// parents returns the directories above the absolute path name, outermost first, without
// the leading slash: "/etc/ssl/x" gives "etc", "etc/ssl".
func parents(name string) []string {
	var out []string
	for d := path.Dir(name); d != "/"; d = path.Dir(d) {
		out = append([]string{d[1:]}, out...)
	}
	return out
}

// sourceDate returns $SOURCE_DATE_EPOCH as a time, or the Unix epoch when it is unset.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
