package connection

import (
	"context"
	"sort"
	"strings"
)

// secretsOf returns the tokens and client secret of connection name, read before Revoke or
// Delete, so that what they return can be redacted of them. It is best effort: a value it
// cannot read (missing, or refused to the caller's Vault token) is simply not known.
func secretsOf(ctx context.Context, st Store, name string) []string {
	var out []string
	if ts, err := st.GetTokens(ctx, name); err == nil {
		out = append(out, ts.RefreshToken, ts.AccessToken)
		if id, ok := ts.Extra["id_token"].(string); ok {
			out = append(out, id)
		}
	}
	if cs, err := st.GetClientSecret(ctx, name); err == nil {
		out = append(out, cs.Value)
	}
	return out
}

// redacted returns res with every value of hide taken out of its texts (see redact).
func (res Result) redacted(hide []string) Result {
	res.RevokeError = redactError(res.RevokeError, hide)
	res.Forbidden = redactError(res.Forbidden, hide)
	if res.Warnings != nil {
		ws := make([]string, len(res.Warnings))
		for i, w := range res.Warnings {
			ws[i] = redact(w, hide)
		}
		res.Warnings = ws
	}
	res.RevokeSkipped = redact(res.RevokeSkipped, hide)
	return res
}

// RedactedError is an error whose text had the connection's secrets taken out. Unwrap still
// gives the cause, for errors.Is and errors.As; only its text may hold a secret, so never
// print the cause.
type RedactedError struct {
	text  string
	cause error
}

func (e *RedactedError) Error() string { return e.text }

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *RedactedError) Unwrap() error { return e.cause }

// redactError is err with the values of hide taken out of its text; nil for nil, and err
// itself when its text holds none of them.
func redactError(err error, hide []string) error {
	if err == nil {
		return nil
	}
	text := redact(err.Error(), hide)
	if text == err.Error() {
		return err
	}
	return &RedactedError{text: text, cause: err}
}

// redact replaces every value of secrets in s, and the prefix of one cut where a provider's
// description was truncated ("..."), with "[redacted]".
func redact(s string, secrets []string) string {
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if len(v) >= 6 { // shorter values are not credentials; replacing them would garble the text
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, "[redacted]")
		for n := len(v) - 1; n >= 6; n-- {
			s = strings.ReplaceAll(s, v[:n]+"...", "[redacted]...")
		}
	}
	return s
}
