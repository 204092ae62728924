package vaultclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// jwtMethod logs in to Vault's JWT/OIDC auth method with a role and a JWT.
type jwtMethod struct {
	role, token, file, env, mount string
}

func newJWT(j *JWT) (method, error) {
	if j.Role == "" {
		return nil, errors.New("JWT login needs the role of Vault's JWT auth method (auth_login_jwt.role, VAULT_JWT_ROLE or --vault-jwt-role)")
	}
	n := 0
	for _, s := range []string{j.Token, j.File, j.Env} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("JWT login needs the JWT from exactly one of: jwt, jwt_file or jwt_env (provider), VAULT_JWT_FILE or --vault-jwt-file (tokend); %d are set", n)
	}
	return &jwtMethod{role: j.Role, token: j.Token, file: j.File, env: j.Env, mount: orDefault(j.MountPath, "jwt")}, nil
}

func (j *jwtMethod) name() string { return "jwt" }

// Login reads the JWT (again, for a file) and logs in at auth/MOUNT/login.
func (j *jwtMethod) Login(ctx context.Context, c *vault.Client) (*vault.Secret, error) {
	tok, err := j.jwt()
	if err != nil {
		return nil, err
	}
	return c.Logical().WriteWithContext(ctx, "auth/"+j.mount+"/login", map[string]any{"role": j.role, "jwt": tok})
}

// jwt returns the JWT from its source, with an error naming the source (never the JWT).
func (j *jwtMethod) jwt() (string, error) {
	var tok string
	switch {
	case j.file != "":
		b, err := os.ReadFile(j.file)
		if err != nil {
			return "", &sourceError{fmt.Errorf("reading the JWT file %s: %w", j.file, err)}
		}
		tok = strings.TrimSpace(string(b))
	case j.env != "":
		tok = strings.TrimSpace(os.Getenv(j.env))
		if tok == "" {
			return "", &sourceError{fmt.Errorf("the environment variable %s (jwt_env) is empty or unset: it should hold the CI system's JWT", j.env)}
		}
	default:
		tok = strings.TrimSpace(j.token)
	}
	if strings.Count(tok, ".") != 2 {
		return "", &sourceError{errors.New("the JWT is not a compact JWS (three base64url parts separated by dots): check its source")}
	}
	return tok, nil
}

// sourceError is a failure to read the JWT, before Vault was asked.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// explain maps the JWT auth method's refusals to what to check.
func (j *jwtMethod) explain(err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return fmt.Errorf("JWT login: %w", se.err)
	}
	msg := cleanErr(err).Error()
	at := fmt.Sprintf("JWT login as role %q at auth/%s", j.role, j.mount)
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "no handler for route"), strings.Contains(lower, "unsupported path"), strings.Contains(lower, "permission denied"):
		return fmt.Errorf("%s: no auth method is mounted there, so Vault treats the login as an unauthenticated request (check the mount, VAULT_JWT_MOUNT; `vault auth list`): %s", at, msg)
	case strings.Contains(lower, "role") && (strings.Contains(lower, "could not be found") || strings.Contains(lower, "not found")):
		return fmt.Errorf("%s: the role does not exist (check the role name; `vault list auth/%s/role`): %s", at, j.mount, msg)
	case strings.Contains(lower, "expired"), strings.Contains(lower, "exp not satisfied"):
		return fmt.Errorf("%s: the JWT has expired (CI tokens live minutes: request a fresh one just before use, and check the clocks): %s", at, msg)
	case strings.Contains(lower, "audience"), strings.Contains(lower, "aud claim"), strings.Contains(lower, "(aud)"):
		return fmt.Errorf("%s: the JWT's audience (aud) is not one of the role's bound_audiences (request the token for the audience the role expects): %s", at, msg)
	case strings.Contains(lower, "bound"), strings.Contains(lower, "claim"), strings.Contains(lower, "subject"):
		return fmt.Errorf("%s: the JWT's claims do not match the role's bound_subject or bound_claims (this workflow, branch or service account is not allowed by the role): %s", at, msg)
	case strings.Contains(lower, "signature"), strings.Contains(lower, "verify"), strings.Contains(lower, "issuer"):
		return fmt.Errorf("%s: Vault could not verify the JWT (signing key or issuer not trusted by the auth method's config: jwks_url, oidc_discovery_url, jwt_validation_pubkeys, bound_issuer): %s", at, msg)
	}
	return fmt.Errorf("%s failed: %s", at, msg)
}
