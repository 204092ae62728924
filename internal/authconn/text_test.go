package authconn

import (
	"errors"
	"strings"
	"testing"
)

// TestTextRulesRefuseWhatCannotBeStoredOrPrintedSafely: the rows of the security review's
// finding 13 (non-UTF-8, control characters, no length caps) for client ids, scopes,
// secrets and descriptions, each refused with a message that names the field, and never the
// secret.
func TestTextRulesRefuseWhatCannotBeStoredOrPrintedSafely(t *testing.T) {
	const secret = "\xff\xfe\x00secret"
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"client id with newline and ESC", ValidateClientID("x\n\x1b[31mred"), []string{"client_id", "U+000A", "byte 1"}},
		{"client id with ESC", ValidateClientID("x\x1b[31m"), []string{"client_id", "U+001B"}},
		{"client id not UTF-8", ValidateClientID("id\xff"), []string{"client_id", "not valid UTF-8", "byte 2"}},
		{"client id with bidi override", ValidateClientID("id\u202egpj"), []string{"client_id", "U+202E"}},
		{"client id too long", ValidateClientID(strings.Repeat("i", MaxClientIDLen+1)), []string{"client_id", "1025 bytes", "limit is 1024"}},
		{"scope with SOH", ValidateScope("a\x01b"), []string{"invalid scope", `"a\x01b"`, "U+0001"}},
		{"scope not UTF-8", ValidateScope("c\xff"), []string{"invalid scope", "not valid UTF-8"}},
		{"scope with ESC", ValidateScope("read\x1b[2J"), []string{"invalid scope", "U+001B"}},
		{"scope with newline", ValidateScope("a\nb"), []string{"invalid scope", "without spaces or commas"}},
		{"scope too long", ValidateScope(strings.Repeat("s", MaxScopeLen+1)), []string{"scope", "limit is 256"}},
		{"secret not UTF-8 with NUL", ValidateClientSecret(secret), []string{"client secret", "not valid UTF-8", "byte 0", "byte for byte"}},
		{"secret with NUL", ValidateClientSecret("abc\x00def"), []string{"client secret", "U+0000", "byte 3"}},
		{"secret with ESC", ValidateClientSecret("abc\x1bdef"), []string{"client secret", "U+001B"}},
		{"secret too long", ValidateClientSecret(strings.Repeat("s", MaxClientSecretLen+1)), []string{"client secret", "limit is 4096"}},
		{"description with ESC", ValidateDescription("description", "\x1b[2Jx"), []string{"description", "U+001B"}},
		{"description with OSC and BEL", ValidateDescription("description", "\x1b]0;pwned\x07desc"), []string{"description", "U+001B"}},
		{"description with C1 CSI", ValidateDescription("description", "a\u009bb"), []string{"description", "U+009B"}},
		{"description too long", ValidateDescription("description", strings.Repeat("d", MaxDescriptionLen+1)), []string{"description", "limit is 512"}},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%s: %q does not contain %q", c.name, c.err, w)
			}
		}
		if strings.Contains(c.err.Error(), "secret\x00") || strings.Contains(c.err.Error(), "abc") {
			t.Errorf("%s: the message holds the secret: %q", c.name, c.err)
		}
		if strings.ContainsAny(c.err.Error(), "\x1b\x07\x00\n") {
			t.Errorf("%s: the message holds a control character: %q", c.name, c.err)
		}
	}
	var te *TextError
	if !errors.As(ValidateClientSecret("a\x00"), &te) || te.Field != "the client secret" {
		t.Errorf("a refused secret is not a *TextError naming its field: %v", te)
	}
	for _, ok := range []error{
		ValidateClientID("1234.apps.googleusercontent.com"), ValidateClientID("ünïcode-client"), ValidateClientID(strings.Repeat("i", MaxClientIDLen)),
		ValidateScope("https://graph.microsoft.com/.default"), ValidateScope("com.intuit.quickbooks.accounting"), ValidateScope(strings.Repeat("s", MaxScopeLen)),
		ValidateClientSecret("GOCSPX-a b~c\u00e9\ufffd"), ValidateClientSecret(strings.Repeat("s", MaxClientSecretLen)),
		ValidateDescription("description", ""), ValidateDescription("description", "status page, key abc — ünïcode"),
	} {
		if ok != nil {
			t.Errorf("a valid value was refused: %v", ok)
		}
	}
}

func TestAssertionKeyHasASizeLimit(t *testing.T) {
	_, _, err := ParseAssertionKey(strings.Repeat("A", MaxAssertionKeyLen+1))
	if err == nil || !strings.Contains(err.Error(), "limit is 16384 bytes") || strings.Contains(err.Error(), "AAAA") {
		t.Errorf("an oversized key: %v", err)
	}
}
