package authconn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes s safe to print on one line of a terminal, a log, a page or a webhook: every
// control or non-printable character (ESC of a terminal escape sequence, BEL, newlines, bidi
// overrides, invalid UTF-8) becomes a space, and the result is cut to at most max bytes on a
// rune boundary, with "…" added when cut (max <= 0: no limit). It is the one sanitizer for
// text that came from outside (a provider's error, a description typed into the admin API):
// tokend list, links list, webhooks list, webhook messages, API errors and the stored status
// summary all use it.
func Sanitize(s string, max int) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if unsafeRune(r) {
				return ' '
			}
			return r
		}, s)
	}
	if max > 0 && len(s) > max {
		n := max
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsPrint(r) && r != ' '
}
