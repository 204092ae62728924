package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconnection/terraform-provider-tailor/internal/testenv"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// noSecretInPlan fails when any of the secrets appears in the JSON of the saved plan, that
// is the output of `tofu show -json <planfile>` that the harness hands to plan checks.
type noSecretInPlan struct {
	secrets  []testenv.Secret
	resource string
}

func (c noSecretInPlan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	b, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	if !bytes.Contains(b, []byte(c.resource)) {
		resp.Error = fmt.Errorf("the plan JSON does not mention %s: the check would prove nothing", c.resource)
		return
	}
	if found := testenv.FindSecrets(b, c.secrets); len(found) > 0 {
		resp.Error = fmt.Errorf("%s appears in `tofu show -json` of the saved plan", found[0])
	}
}

// noSecretInState fails when any of the secrets appears in the JSON of the state
// (`tofu show -json`).
type noSecretInState struct {
	secrets  []testenv.Secret
	resource string
}

func (c noSecretInState) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	b, err := json.Marshal(req.State)
	if err != nil {
		resp.Error = err
		return
	}
	if !bytes.Contains(b, []byte(c.resource)) {
		resp.Error = fmt.Errorf("the state JSON does not mention %s: the check would prove nothing", c.resource)
		return
	}
	if found := testenv.FindSecrets(b, c.secrets); len(found) > 0 {
		resp.Error = fmt.Errorf("%s appears in `tofu show -json` of the state", found[0])
	}
}

// TestAccAuthConnectionResource_noSecretLeak creates a connection and rotates its secret
// with known random values given through an ephemeral variable (TF_VAR_client_secret, so
// no file of the working directory holds them by design), with TF_LOG=trace. While Vault
// holds each secret, neither appears in the state files, in the saved plans, in
// `tofu show -json` of the plans and the state, or in the trace log of OpenTofu and the
// provider.
func TestAccAuthConnectionResource_noSecretLeak(t *testing.T) {
	e := newAccEnv(t)
	const name = "leak-check"
	const addr = "tailor_authconnection.leak"
	secret1 := "leak1-" + randomHex(24)
	secret2 := "leak2-" + randomHex(24)
	secrets := testenv.Secrets(secret1, secret2)

	tmp := t.TempDir()
	workDir := filepath.Join(tmp, "work")
	logPath := filepath.Join(tmp, "trace.log")
	if err := os.Mkdir(workDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_ACC_PERSIST_WORKING_DIR", "1")
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", logPath)
	t.Setenv("TF_VAR_client_secret", secret1)

	config := func(version int) string {
		return e.providerConfig() + `
variable "client_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}
` + connArgs{
			Name: name, ProviderURL: "https://accounts.google.com", ClientID: "leak-client",
			SecretWO: "var.client_secret", SecretExpr: true, SecretVersion: version,
		}.hcl("leak")
	}
	checks := func(secret string, version int) (resource.ConfigPlanChecks, []statecheck.StateCheck, resource.TestCheckFunc) {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{noSecretInPlan{secrets, addr}}},
			[]statecheck.StateCheck{noSecretInState{secrets, addr}},
			expectSecret(e, name, secret, version) // Vault holds it
	}
	p1, s1, c1 := checks(secret1, 1)
	p2, s2, c2 := checks(secret2, 2)

	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		WorkingDir:               workDir,
		CheckDestroy:             e.checkDestroyed(name),
		Steps: []resource.TestStep{
			{Config: config(1), ConfigPlanChecks: p1, ConfigStateChecks: s1, Check: c1},
			{
				PreConfig:        func() { t.Setenv("TF_VAR_client_secret", secret2) },
				Config:           config(2),
				ConfigPlanChecks: p2, ConfigStateChecks: s2, Check: c2,
			},
		},
	})
	if t.Failed() {
		return
	}

	// Every file the harness and OpenTofu left: state files and their backups, saved plans,
	// lock files, the copies of each step's working directory.
	var stateFiles, planFiles int
	files := testenv.CheckTreeHasNoSecret(t, "no client secret in Terraform's files", workDir, secrets, func(p string, b []byte) {
		if strings.HasSuffix(p, ".tfstate") && bytes.Contains(b, []byte(`"tailor_authconnection"`)) {
			stateFiles++
		}
		if filepath.Base(p) == "tfplan" {
			planFiles++
		}
	})
	if stateFiles == 0 {
		t.Errorf("no state file with the resource was found under %s (%d files): the check proves nothing", workDir, files)
	}
	t.Logf("searched %d files (%d state files with the resource, %d saved plans)", files, stateFiles, planFiles)
	n := testenv.CheckTraceLogHasNoSecret(t, "no client secret in the trace log", logPath,
		[]string{"ApplyResourceChange", "tailor_authconnection", "client_secret_wo"}, secrets)
	t.Logf("searched the %d-byte trace log", n)
}
