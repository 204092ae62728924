package proxy

import (
	"net/url"
	"slices"
	"strings"
)

// maxWordDigits is how many digits a path segment may hold and still be kept as one of the
// API's own words ("v3", "oauth2", "v2.0"); a segment with more is an identifier or a date.
const maxWordDigits = 3

// pathTemplate returns the form of an escaped path that the audit trail records: a segment
// equal to one of the connection's metadata values becomes "{key}"
// (/v3/company/{realmId}/query), any other segment that is not one of the API's own words
// (isWord) becomes "{id}", so that a record names the API that was called without the values
// in its path: ids, e-mail addresses, dates, search terms.
func pathTemplate(escaped string, metadata map[string]string) string {
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		if k := metadataKey(s, metadata); k != "" {
			segs[i] = "{" + k + "}"
		} else if !isWord(s) {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

// isWord reports whether an escaped segment reads as a word of the API (letters, '.', '-',
// '_' and at most maxWordDigits digits, up to 40 bytes) rather than a value.
func isWord(s string) bool {
	if len(s) > 40 {
		return false
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return digits <= maxWordDigits && digits < len(s)
}

// metadataKey returns the first key, in sorted order, of the metadata value that the escaped
// segment s spells ("" when none does).
func metadataKey(s string, metadata map[string]string) string {
	if len(metadata) == 0 {
		return ""
	}
	seg, err := url.PathUnescape(s)
	if err != nil {
		return ""
	}
	var found []string
	for k, v := range metadata {
		if v != "" && v == seg {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return ""
	}
	return slices.Min(found)
}
