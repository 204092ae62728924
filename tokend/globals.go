package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authconnection/terraform-provider-tailor/internal/store"
	"github.com/authconnection/terraform-provider-tailor/internal/vaultclient"
)

// globalFlags are the flags every command has: where Vault is and how to log. The root
// command makes one value and hands it to each command's constructor.
type globalFlags struct {
	vaultAddr         string
	vaultNamespace    string
	vaultRoleID       string
	vaultSecretIDFile string
	vaultAppRoleMount string
	vaultJWTRole      string
	vaultJWTFile      string
	vaultJWTMount     string
	vaultConsistency  string
	vaultCACert       string
	vaultSkipVerify   bool
	mount             string
	pathPrefix        string
	logLevel          string
	logFormat         string
	auditLog          string
}

func (g *globalFlags) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&g.vaultAddr, "vault-addr", "", "Vault address, or the nodes of a cluster separated by commas (requests fail over between them) (default $VAULT_ADDR)")
	f.StringVar(&g.vaultNamespace, "vault-namespace", os.Getenv("VAULT_NAMESPACE"), "Vault Enterprise namespace (default $VAULT_NAMESPACE)")
	f.StringVar(&g.vaultRoleID, "vault-role-id", os.Getenv("VAULT_ROLE_ID"), "AppRole role id; with --vault-secret-id-file, log in with AppRole instead of VAULT_TOKEN")
	f.StringVar(&g.vaultSecretIDFile, "vault-secret-id-file", os.Getenv("VAULT_SECRET_ID_FILE"), "file holding the AppRole secret id")
	f.StringVar(&g.vaultAppRoleMount, "vault-approle-mount", envOr("VAULT_APPROLE_MOUNT", "approle"), "mount of the AppRole auth method ($VAULT_APPROLE_MOUNT)")
	f.StringVar(&g.vaultJWTRole, "vault-jwt-role", os.Getenv("VAULT_JWT_ROLE"), "role of Vault's JWT auth method; with --vault-jwt-file, log in with a JWT (a Kubernetes service-account token) instead of VAULT_TOKEN ($VAULT_JWT_ROLE)")
	f.StringVar(&g.vaultJWTFile, "vault-jwt-file", os.Getenv("VAULT_JWT_FILE"), "file holding the JWT, read again at every login so a rotated token is used ($VAULT_JWT_FILE)")
	f.StringVar(&g.vaultConsistency, "vault-consistency", envOr("TAILOR_VAULT_CONSISTENCY", "strong"), "how the reads that decide what is sent to a provider are made consistent where Vault standbys serve reads (Vault Enterprise performance standbys, OpenBao): strong (X-Vault-Index of this replica's own writes), forward (also X-Vault-Forward to the active node; needs allow_forwarding_via_header), or eventual (docs/tokend.md) ($TAILOR_VAULT_CONSISTENCY)")
	f.StringVar(&g.vaultJWTMount, "vault-jwt-mount", envOr("VAULT_JWT_MOUNT", "jwt"), "mount of the JWT auth method ($VAULT_JWT_MOUNT)")
	f.StringVar(&g.vaultCACert, "vault-cacert", "", "PEM file of the CA of Vault's certificate (default $VAULT_CACERT)")
	f.BoolVar(&g.vaultSkipVerify, "vault-skip-verify", false, "do not verify Vault's TLS certificate (insecure; default $VAULT_SKIP_VERIFY)")
	f.StringVar(&g.mount, "mount", envOr("TAILOR_MOUNT", store.DefaultMount), "KV v2 mount holding tailor's records ($TAILOR_MOUNT)")
	f.StringVar(&g.pathPrefix, "path-prefix", envOr("TAILOR_PATH_PREFIX", store.DefaultPrefix), "path prefix inside the mount ($TAILOR_PATH_PREFIX)")
	f.StringVar(&g.logLevel, "log-level", envOr("TOKEND_LOG_LEVEL", "info"), "debug, info, warn or error ($TOKEND_LOG_LEVEL)")
	f.StringVar(&g.logFormat, "log-format", envOr("TOKEND_LOG_FORMAT", "text"), "text or json ($TOKEND_LOG_FORMAT)")
	f.StringVar(&g.auditLog, "audit-log", os.Getenv("TOKEND_AUDIT_LOG"), "append the audit trail as JSON lines to this file (- : standard output for serve, standard error for other commands); docs/security.md, Audit trail ($TOKEND_AUDIT_LOG)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return g.setupLogging(cmd) }
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globalFlags) setupLogging(cmd *cobra.Command) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(g.logFormat) {
	case "json":
		h = slog.NewJSONHandler(cmd.ErrOrStderr(), opts)
	case "text":
		h = slog.NewTextHandler(cmd.ErrOrStderr(), opts)
	default:
		return fmt.Errorf("invalid --log-format %q: use text or json", g.logFormat)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// openStore connects to Vault (logging in with AppRole or a JWT when so configured), checks
// the token, and returns the store. The client keeps its token alive until Close.
func (g *globalFlags) openStore(ctx context.Context) (*store.Store, *vaultclient.Client, error) {
	cfg := vaultclient.Config{
		Address: g.vaultAddr, Namespace: g.vaultNamespace, CACert: g.vaultCACert, SkipVerify: g.vaultSkipVerify,
		Consistency: g.vaultConsistency,
	}
	if g.vaultRoleID != "" || g.vaultSecretIDFile != "" {
		cfg.AppRole = &vaultclient.AppRole{RoleID: g.vaultRoleID, SecretIDFile: g.vaultSecretIDFile, MountPath: g.vaultAppRoleMount}
	}
	if g.vaultJWTRole != "" || g.vaultJWTFile != "" {
		cfg.JWT = &vaultclient.JWT{Role: g.vaultJWTRole, File: g.vaultJWTFile, MountPath: g.vaultJWTMount}
	}
	vc, err := vaultclient.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := vc.Verify(ctx); err != nil {
		vc.Close()
		return nil, nil, err
	}
	st, err := store.New(vc.Client, store.Options{Mount: g.mount, Prefix: g.pathPrefix, Writer: store.WriterCLI, WriterID: operator().ID})
	if err != nil {
		vc.Close()
		return nil, nil, err
	}
	return st, vc, nil
}
