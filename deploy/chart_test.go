package deploy

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// renderDeployment renders the chart with sets and returns its Deployment and the tokend
// container.
func renderDeployment(t *testing.T, sets ...string) (deployment, container) {
	t.Helper()
	var d deployment
	find(t, render(t, sets...), "Deployment", &d)
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "tokend" {
		t.Fatalf("pod containers = %+v, want the one container tokend", cs)
	}
	return d, cs[0]
}

// env returns c's environment as a map; a variable without a literal value fails the test.
func env(t *testing.T, c container) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range c.Env {
		if e.Value == nil || e.ValueFrom != nil {
			t.Errorf("env %s has no literal value (valueFrom %v): the chart passes no secret in the environment", e.Name, e.ValueFrom)
			continue
		}
		m[e.Name] = *e.Value
	}
	return m
}

// mountOf returns the mount of the volume name in c, failing the test when there is none.
func mountOf(t *testing.T, c container, name string) volumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("volume %s is not mounted in the container (mounts %+v)", name, c.VolumeMounts)
	return volumeMount{}
}

// volumeNamed returns the pod volume name, failing the test when there is none.
func volumeNamed(t *testing.T, d deployment, name string) volume {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s in the pod", name)
	return volume{}
}

// portOf returns the container port named name.
func portOf(t *testing.T, c container, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("no container port %s in %+v", name, c.Ports)
	return 0
}

func TestChartLintsStrict(t *testing.T) {
	for name, sets := range map[string][]string{"defaults": nil, "tls": tlsValues} {
		out, stderr, err := helm(t, append([]string{"lint", "--strict", chartDir(t)}, setArgs(sets)...)...)
		if err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint --strict (%s): %v\n%s%s", name, err, out, stderr)
		}
	}
}

func TestChartRendersTheExpectedObjects(t *testing.T) {
	got := kinds(render(t))
	slices.Sort(got)
	want := []string{"Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}
	if !slices.Equal(got, want) {
		t.Errorf("rendered kinds %v, want %v", got, want)
	}
}

func TestChartReplicas(t *testing.T) {
	if d, _ := renderDeployment(t); d.Spec.Replicas != 3 {
		t.Errorf("default replicas = %d, want 3", d.Spec.Replicas)
	}
	if d, _ := renderDeployment(t, "replicaCount=5"); d.Spec.Replicas != 5 {
		t.Errorf("replicas with replicaCount=5: %d", d.Spec.Replicas)
	}
	if d, _ := renderDeployment(t); d.Spec.Strategy.RollingUpdate.MaxUnavailable != 0 {
		t.Errorf("rolling update maxUnavailable = %v, want 0 (a new replica is ready before an old one stops)", d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	}
}

// checkProbes checks that liveness is /healthz and readiness /readyz, on tokend's listening
// port, with scheme.
func checkProbes(t *testing.T, c container, scheme string) {
	t.Helper()
	listen := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			listen = v
		}
	}
	port := portOf(t, c, "api")
	if listen != "0.0.0.0:"+strconv.Itoa(port) {
		t.Errorf("--listen=%q, want 0.0.0.0:%d (the container port api)", listen, port)
	}
	for _, p := range []struct {
		name, path string
		probe      probe
	}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
		g := p.probe.HTTPGet
		if g == nil || g.Path != p.path || g.Port != "api" || g.Scheme != scheme {
			t.Errorf("%s probe %+v, want GET %s on port api over %s", p.name, g, p.path, scheme)
		}
	}
	if c.ReadinessProbe.TimeoutSeconds <= 5 {
		t.Errorf("readiness timeout %ds: /readyz waits up to 5 s for Vault", c.ReadinessProbe.TimeoutSeconds)
	}
}

func TestChartProbes(t *testing.T) {
	_, c := renderDeployment(t)
	checkProbes(t, c, "HTTP")
	_, c = renderDeployment(t, tlsValues...)
	checkProbes(t, c, "HTTPS")
}

func TestChartSecurityContext(t *testing.T) {
	d, c := renderDeployment(t)
	pod, sc := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	for name, s := range map[string]securityContext{"pod": pod, "container": sc} {
		if s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.RunAsUser == nil || *s.RunAsUser != 65532 {
			t.Errorf("%s securityContext: runAsNonRoot %v, runAsUser %v; want true and 65532", name, s.RunAsNonRoot, s.RunAsUser)
		}
		if s.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s seccompProfile %q, want RuntimeDefault", name, s.SeccompProfile.Type)
		}
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation = %v, want false", sc.AllowPrivilegeEscalation)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem = %v, want true", sc.ReadOnlyRootFilesystem)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities drop %v add %v, want drop [ALL] and no add", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("the container is privileged")
	}
	if m := mountOf(t, c, "tmp"); m.MountPath != "/tmp" || volumeNamed(t, d, "tmp").EmptyDir == nil {
		t.Errorf("/tmp is %+v, want an emptyDir (the root filesystem is read-only)", m)
	}
}

func TestChartResources(t *testing.T) {
	_, c := renderDeployment(t)
	for _, k := range []string{"cpu", "memory"} {
		if c.Resources.Requests[k] == "" {
			t.Errorf("no %s request (resources %+v)", k, c.Resources)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Errorf("no memory limit (resources %+v)", c.Resources)
	}
}

func TestChartPodDisruptionBudget(t *testing.T) {
	objs := render(t)
	var d deployment
	var pdb podDisruptionBudget
	find(t, objs, "Deployment", &d)
	find(t, objs, "PodDisruptionBudget", &pdb)
	if pdb.Spec.MaxUnavailable != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("PDB selector %v does not select the pods %v", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
}

// selects reports whether the non-empty selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestChartServiceReachesThePods(t *testing.T) {
	objs := render(t)
	var d deployment
	var s service
	find(t, objs, "Deployment", &d)
	find(t, objs, "Service", &s)
	if !selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", s.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	if !maps.Equal(d.Spec.Selector.MatchLabels, s.Spec.Selector) {
		t.Errorf("Deployment selector %v != Service selector %v", d.Spec.Selector.MatchLabels, s.Spec.Selector)
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort != "api" || s.Spec.Ports[0].Port != 8787 {
		t.Errorf("Service ports %+v, want 8787 to the container port api", s.Spec.Ports)
	}
}

func TestChartSpreadsReplicasAcrossNodes(t *testing.T) {
	d, _ := renderDeployment(t)
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == "kubernetes.io/hostname" && c.MaxSkew == 1 && c.WhenUnsatisfiable == "DoNotSchedule" &&
			selects(c.LabelSelector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			return
		}
	}
	t.Errorf("no topology spread over kubernetes.io/hostname (maxSkew 1, DoNotSchedule) selecting the pods: %+v", d.Spec.Template.Spec.TopologySpreadConstraints)
}

func TestChartLogsInToVaultWithAProjectedToken(t *testing.T) {
	objs := render(t)
	var d deployment
	var sa serviceAccount
	find(t, objs, "Deployment", &d)
	find(t, objs, "ServiceAccount", &sa)
	c := d.Spec.Template.Spec.Containers[0]
	v := volumeNamed(t, d, "vault-token")
	if v.Projected == nil || len(v.Projected.Sources) != 1 || v.Projected.Sources[0].ServiceAccountToken == nil {
		t.Fatalf("volume vault-token is %+v, want a projected service-account token", v)
	}
	tok := v.Projected.Sources[0].ServiceAccountToken
	if tok.Audience != "vault" || tok.ExpirationSeconds != 600 {
		t.Errorf("projected token audience %q, expirationSeconds %d; want vault and 600", tok.Audience, tok.ExpirationSeconds)
	}
	m := mountOf(t, c, "vault-token")
	if want := path.Join(m.MountPath, tok.Path); env(t, c)["VAULT_JWT_FILE"] != want || !m.ReadOnly {
		t.Errorf("VAULT_JWT_FILE=%q, mount %+v; want %s, read-only", env(t, c)["VAULT_JWT_FILE"], m, want)
	}
	if sa.Metadata.Name != "tokend" || d.Spec.Template.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("pods run as service account %q, the chart makes %q; want tokend (Vault's bound_subject)", d.Spec.Template.Spec.ServiceAccountName, sa.Metadata.Name)
	}
	for name, a := range map[string]*bool{"pod": d.Spec.Template.Spec.AutomountServiceAccountToken, "ServiceAccount": sa.AutomountServiceAccountToken} {
		if a == nil || *a {
			t.Errorf("%s automountServiceAccountToken = %v, want false (no Kubernetes API token in the pod)", name, a)
		}
	}
}

func TestChartEnvironment(t *testing.T) {
	_, c := renderDeployment(t)
	got := env(t, c)
	want := map[string]string{
		"VAULT_ADDR": "https://vault.vault.svc:8200", "VAULT_JWT_ROLE": "tokend", "VAULT_JWT_MOUNT": "jwt",
		"VAULT_JWT_FILE": "/var/run/secrets/vault/token", "TAILOR_MOUNT": "secret", "TAILOR_PATH_PREFIX": "tailor",
		"TOKEND_LOG_FORMAT": "json", "TOKEND_LOG_LEVEL": "info",
	}
	if !maps.Equal(got, want) {
		t.Errorf("environment\n got %v\nwant %v", got, want)
	}
	_, c = renderDeployment(t, "vault.caCert.configMap=vault-ca", "vault.jwt.mount=kubernetes-jwt", "tailor.pathPrefix=tailor-prod")
	got = env(t, c)
	if m := mountOf(t, c, "vault-ca"); got["VAULT_CACERT"] != path.Join(m.MountPath, "ca.crt") {
		t.Errorf("VAULT_CACERT=%q, want ca.crt in the mount %s", got["VAULT_CACERT"], m.MountPath)
	}
	if got["VAULT_JWT_MOUNT"] != "kubernetes-jwt" || got["TAILOR_PATH_PREFIX"] != "tailor-prod" {
		t.Errorf("values not passed on: %v", got)
	}
}

func TestChartTLSFromASecret(t *testing.T) {
	d, c := renderDeployment(t, tlsValues...)
	v := volumeNamed(t, d, "tls")
	m := mountOf(t, c, "tls")
	if v.Secret == nil || v.Secret.SecretName != "tokend-tls" || !m.ReadOnly {
		t.Fatalf("tls volume %+v mounted %+v, want the Secret tokend-tls, read-only", v, m)
	}
	for _, want := range []string{"--tls-cert=" + path.Join(m.MountPath, "tls.crt"), "--tls-key=" + path.Join(m.MountPath, "tls.key")} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	var s service
	find(t, render(t, tlsValues...), "Service", &s)
	if s.Spec.Ports[0].Name != "https" {
		t.Errorf("Service port name %q with TLS, want https", s.Spec.Ports[0].Name)
	}
	if _, c := renderDeployment(t); slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--tls-") }) {
		t.Errorf("TLS flags without tls.enabled: %v", c.Args)
	}
}

func TestChartRendersNoSecret(t *testing.T) {
	for name, sets := range map[string][]string{"defaults": nil, "tls": tlsValues} {
		objs := render(t, sets...)
		if slices.Contains(kinds(objs), "Secret") {
			t.Errorf("%s: the chart renders a Secret", name)
		}
		var d deployment
		find(t, objs, "Deployment", &d)
		for k := range env(t, d.Spec.Template.Spec.Containers[0]) {
			if k == "VAULT_TOKEN" || k == "VAULT_SECRET_ID" || k == "TAILOR_TOKEND_API_KEY" {
				t.Errorf("%s: the environment holds %s", name, k)
			}
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil && (v.Name != "tls" || v.Secret.SecretName != "tokend-tls") {
				t.Errorf("%s: secret volume %+v besides the TLS certificate", name, v)
			}
		}
		if text := encode(t, objs); strings.Contains(text, "hvs.") || strings.Contains(text, "tk_") {
			t.Errorf("%s: the rendered objects hold something like a Vault token or an API key", name)
		}
	}
}

func TestChartSchemaRejectsBadValues(t *testing.T) {
	for _, c := range []struct{ name, flag, set, at string }{
		{"replicas as a word", "--set-string", "replicaCount=three", "/replicaCount"},
		{"no replicas", "--set", "replicaCount=0", "/replicaCount"},
		{"a secret in values", "--set", "vault.token=hvs.example", "/vault"},
		{"a typo", "--set", "replicas=3", ""},
		{"TLS without a Secret", "--set", "tls.enabled=true", "/tls/secretName"},
		{"a token shorter than Kubernetes allows", "--set", "vault.jwt.expirationSeconds=60", "/vault/jwt/expirationSeconds"},
		{"no auth off loopback", "--set", "extraArgs={--insecure-no-auth}", "/extraArgs/0"},
		{"the listen address twice", "--set", "extraArgs={--listen=0.0.0.0:9000}", "/extraArgs/0"},
		{"an unknown log level", "--set", "log.level=verbose", "/log/level"},
		{"a privileged port", "--set", "port=443", "/port"},
		{"no memory limit", "--set", "resources.limits.memory=null", "/resources/limits"},
	} {
		_, stderr, err := helm(t, "template", release, chartDir(t), c.flag, c.set)
		if err == nil || !strings.Contains(stderr, "don't meet the specifications of the schema") || !strings.Contains(stderr, "at '"+c.at+"'") {
			t.Errorf("%s (%s %s): helm template err %v, want the schema's error at '%s'; stderr:\n%s", c.name, c.flag, c.set, err, c.at, stderr)
		}
	}
	out, stderr, err := helm(t, "lint", "--strict", chartDir(t), "--set-string", "replicaCount=three")
	if err == nil || !strings.Contains(out, "/replicaCount': got string, want integer") {
		t.Errorf("helm lint with replicaCount=three: err %v, want the schema's error\n%s%s", err, out, stderr)
	}
}

func TestChartNotesNameTheVaultRole(t *testing.T) {
	out, stderr, err := helm(t, "install", release, chartDir(t), "--namespace", namespace, "--dry-run=client")
	if err != nil {
		t.Fatalf("helm install --dry-run=client: %v\n%s", err, stderr)
	}
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("no NOTES in\n%s", out)
	}
	for _, want := range []string{"bound_subject=system:serviceaccount:tailor:tokend", "bound_audiences=vault", "auth/jwt", "http://tokend.tailor.svc:8787", "plain HTTP"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
}
