package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
)

// AppRole is the AppRole auth method's login data.
type AppRole struct {
	RoleID string // VAULT_ROLE_ID
	// SecretID is the secret id itself (the provider's auth_login_approle.secret_id);
	// SecretIDFile names a file holding it (VAULT_SECRET_ID_FILE), read at every login.
	SecretID, SecretIDFile string
	MountPath              string // VAULT_APPROLE_MOUNT; default "approle"
}

// JWT is the JWT auth method's login data: a role and a JWT signed by an issuer that the
// auth method trusts (GitHub Actions' or GitLab CI's OIDC token, a Kubernetes
// service-account token).
type JWT struct {
	Role string // VAULT_JWT_ROLE
	// The JWT comes from exactly one of: Token, the JWT itself; File (VAULT_JWT_FILE), read
	// at every login, so a rotated Kubernetes projected token is picked up; Env, the name of
	// an environment variable holding it (GitLab CI's id_tokens).
	Token, File, Env string
	MountPath        string // VAULT_JWT_MOUNT; default "jwt"
}

// method is an auth method that tokend and the provider log in with.
type method interface {
	vault.AuthMethod
	// name is the method's name: approle or jwt.
	name() string
	// explain turns a failed login into an actionable error.
	explain(err error) error
}

// loginMethod returns the auth method that cfg or the environment asks for; nil means a
// token.
func loginMethod(cfg Config) (method, error) {
	if cfg.AppRole != nil && cfg.JWT != nil {
		return nil, errors.New("both AppRole and JWT login are configured: choose one")
	}
	ar, jw := cfg.AppRole, cfg.JWT
	if ar == nil && jw == nil {
		switch {
		case os.Getenv("VAULT_ROLE_ID") != "":
			ar = &AppRole{RoleID: os.Getenv("VAULT_ROLE_ID"), SecretIDFile: os.Getenv("VAULT_SECRET_ID_FILE"), MountPath: os.Getenv("VAULT_APPROLE_MOUNT")}
		case os.Getenv("VAULT_JWT_ROLE") != "":
			jw = &JWT{Role: os.Getenv("VAULT_JWT_ROLE"), File: os.Getenv("VAULT_JWT_FILE"), MountPath: os.Getenv("VAULT_JWT_MOUNT")}
		}
	}
	switch {
	case ar != nil:
		return newAppRole(ar)
	case jw != nil:
		return newJWT(jw)
	}
	return nil, nil
}

// login logs in with m on a copy of the client without a token (an expired one must not
// get in the way), sets the new token, and starts keeping it alive.
func (c *Client) login(ctx context.Context, m method) error {
	c.method = m.name()
	secret, err := c.loginOnce(ctx, m)
	if err != nil {
		return err
	}
	c.startKeepalive(m, secret)
	return nil
}

// loginOnce logs in with m and sets the token; it records when the token expires.
func (c *Client) loginOnce(ctx context.Context, m method) (*vault.Secret, error) {
	lc, err := c.CloneWithHeaders() // keeps the namespace
	if err != nil {
		return nil, err
	}
	lc.ClearToken()
	secret, err := m.Login(ctx, lc)
	if err != nil {
		return nil, m.explain(err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s login returned no token", m.name())
	}
	c.SetToken(secret.Auth.ClientToken)
	c.setState(nil, expiry(secret))
	return secret, nil
}

// useToken sets a given token and starts watching its lifetime.
func (c *Client) useToken(ctx context.Context, token string) error {
	c.method = "token"
	if token != "" {
		c.SetToken(token)
	}
	if c.Token() == "" {
		return errors.New("no Vault token: set vault_token (provider) or VAULT_TOKEN, or log in with AppRole (auth_login_approle; VAULT_ROLE_ID and VAULT_SECRET_ID_FILE) or JWT (auth_login_jwt; VAULT_JWT_ROLE and VAULT_JWT_FILE)")
	}
	c.startKeepalive(nil, nil)
	return nil
}

// expiry is when the token of secret expires; zero when it does not.
func expiry(secret *vault.Secret) time.Time {
	if secret == nil || secret.Auth == nil || secret.Auth.LeaseDuration <= 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(secret.Auth.LeaseDuration) * time.Second)
}

// appRoleMethod logs in with vault/api's AppRole package.
type appRoleMethod struct {
	*approle.AppRoleAuth
	mount string
}

func newAppRole(ar *AppRole) (method, error) {
	if ar.RoleID == "" || (ar.SecretID == "" && ar.SecretIDFile == "") {
		return nil, errors.New("AppRole login needs a role id (auth_login_approle.role_id, VAULT_ROLE_ID or --vault-role-id) and a secret id (auth_login_approle.secret_id or secret_id_file, VAULT_SECRET_ID_FILE or --vault-secret-id-file)")
	}
	mount := orDefault(ar.MountPath, "approle")
	sid := &approle.SecretID{FromString: ar.SecretID}
	if ar.SecretIDFile != "" {
		sid = &approle.SecretID{FromFile: ar.SecretIDFile}
	}
	a, err := approle.NewAppRoleAuth(ar.RoleID, sid, approle.WithMountPath(mount))
	if err != nil {
		return nil, fmt.Errorf("AppRole login: %w", err)
	}
	return &appRoleMethod{AppRoleAuth: a, mount: mount}, nil
}

func (a *appRoleMethod) name() string { return "approle" }

func (a *appRoleMethod) explain(err error) error {
	msg := cleanErr(err).Error()
	switch {
	case strings.Contains(msg, "no handler for route"), strings.Contains(msg, "unsupported path"), strings.Contains(msg, "permission denied"):
		return fmt.Errorf("AppRole login: no auth method is mounted at auth/%s (check the mount, VAULT_APPROLE_MOUNT; `vault auth list`): %s", a.mount, msg)
	case strings.Contains(msg, "invalid role or secret ID"), strings.Contains(msg, "invalid secret id"), strings.Contains(msg, "invalid role ID"):
		return fmt.Errorf("AppRole login at auth/%s refused the role id or the secret id (check the role id and the secret id file; a secret id may be single-use or expired): %s", a.mount, msg)
	}
	return fmt.Errorf("AppRole login at auth/%s failed (check the role id and the secret id file): %s", a.mount, msg)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
