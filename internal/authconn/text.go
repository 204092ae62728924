package authconn

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Length limits of the text a connection, a connect link, an API key or a webhook holds, in
// bytes of UTF-8. They are far above what providers issue and bound what an admin API
// caller or a configuration can make tokend store, print and send (docs/tokend.md, "Limits").
const (
	MaxClientIDLen     = 1024     // client_id
	MaxScopeLen        = 256      // one scope
	MaxDescriptionLen  = 512      // the description of an API key, a connect link or a webhook
	MaxClientSecretLen = 4096     // a client secret
	MaxAssertionKeyLen = 16 << 10 // the PEM of a client assertion key (an RSA 8192 key is about 6.5 KiB)
)

// TextError is a refused text value: which field, and why. Its message names the field, the
// rule and, except for secrets, where the offending character is; it never holds the value.
type TextError struct {
	Field string
	// Problem is what is wrong, e.g. "is not valid UTF-8 (byte 0)".
	Problem string
	// Fix says what to do instead.
	Fix string
}

func (e *TextError) Error() string { return e.Field + " " + e.Problem + ": " + e.Fix }

// checkText reports whether s is valid UTF-8 without control characters (C0, DEL, C1: the
// ESC of a terminal escape sequence, BEL, NUL, newlines, tabs) and, unless secret, without
// invisible format characters (bidi overrides, zero-width joiners), and at most max bytes.
// The error names field and the byte offset of the first offending character, never the
// value, so that it is safe for secrets too.
func checkText(field, s string, max int, secret bool) error {
	if len(s) > max {
		return &TextError{Field: field, Problem: fmt.Sprintf("is %d bytes long", len(s)), Fix: fmt.Sprintf("the limit is %d bytes", max)}
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			return &TextError{Field: field, Problem: fmt.Sprintf("is not valid UTF-8 (byte %d)", i),
				Fix: "give it as UTF-8 text; a value that cannot be stored byte for byte is refused rather than changed"}
		case unicode.IsControl(r):
			return &TextError{Field: field, Problem: fmt.Sprintf("contains the control character U+%04X (byte %d)", r, i),
				Fix: "remove it (control characters, such as ESC, NUL, tabs and newlines, are not allowed)"}
		case !secret && unicode.Is(unicode.Cf, r):
			return &TextError{Field: field, Problem: fmt.Sprintf("contains the invisible format character U+%04X (byte %d)", r, i),
				Fix: "remove it (bidi overrides and zero-width characters are not allowed)"}
		}
	}
	return nil
}

// validAt reports whether the RuneError at byte i of s is a real U+FFFD, not invalid UTF-8.
func validAt(s string, i int) bool {
	_, n := utf8.DecodeRuneInString(s[i:])
	return n == 3
}

// ValidateDescription reports whether s is an acceptable description of an API key, a
// connect link or a webhook (field names it in the message): at most MaxDescriptionLen bytes
// of UTF-8, without control or invisible format characters, since descriptions are printed on
// operators' terminals (tokend keys list, links list, webhooks list). Empty is fine.
func ValidateDescription(field, s string) error {
	return checkText(field, s, MaxDescriptionLen, false)
}
