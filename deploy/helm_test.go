package deploy

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
)

const (
	release   = "tokend"
	namespace = "tailor"
)

// tlsValues turn on HTTPS from tokend, with a certificate Secret made outside the chart.
var tlsValues = []string{"tls.enabled=true", "tls.secretName=tokend-tls"}

// helm runs the pinned helm (testenv.Binary "helm") with its homes in the test's temporary
// directory and no cluster, and returns its standard output and standard error.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := testenv.Binary(t, "helm")
	home := t.TempDir()
	env := []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"),
	}
	return run(bin, env, args...)
}

// chartDir is the chart's directory.
func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy", "helm", "tokend") }

// setArgs turns key=value pairs into helm's --set flags.
func setArgs(sets []string) []string {
	var args []string
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return args
}

// render runs `helm template` with sets and returns the rendered objects.
func render(t *testing.T, sets ...string) []object {
	t.Helper()
	args := append([]string{"template", release, chartDir(t), "--namespace", namespace}, setArgs(sets)...)
	out, stderr, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", sets, err, stderr)
	}
	return parseObjects(t, out)
}

// object is one rendered Kubernetes object: its kind and name, and the whole document.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	doc yaml.Node
}

// parseObjects splits helm's output into its YAML documents.
func parseObjects(t *testing.T, out string) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o object
		err := dec.Decode(&o.doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if err := o.doc.Decode(&o); err != nil {
			t.Fatalf("rendered object: %v", err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatal("helm template rendered no object")
	}
	return objs
}

// find decodes the one object of kind into v.
func find(t *testing.T, objs []object, kind string, v any) {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	if err := found[0].doc.Decode(v); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

// kinds returns the kinds of objs, in order.
func kinds(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Kind)
	}
	return out
}

// encode returns objs as one YAML text, for searching it.
func encode(t *testing.T, objs []object) string {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	for _, o := range objs {
		if err := enc.Encode(&o.doc); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
