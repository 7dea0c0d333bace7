package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// An ID is a letter or digit, then letters, digits and _.:- (the pattern
// ^[A-Za-z0-9][A-Za-z0-9_.:-]*$, checked by hand: every write checks IDs
// and slugs on three servers, and the regexp was 3% of a follower's CPU).
func isID(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

// isMetaKey is ^[A-Za-z0-9_.-]+$.
func isMetaKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// IsHostName reports a DNS host name: dot-separated labels of 1-63
// letters, digits, '-' and '_' (Docker's DNS names containers with '_',
// and Go's TLS accepts it), no label starting or ending with '-', 253
// characters at most, no trailing dot.
func IsHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return false
			}
			label = 0
		case isAlnum(c) || c == '_' || c == '-':
			if label++; label > 63 || (label == 1 && c == '-') {
				return false
			}
		default:
			return false
		}
	}
	return label > 0 && s[len(s)-1] != '-'
}

// IsPrintable reports text with no control character and none of
// Unicode's other invisible ones (U+2028 and the like).
func IsPrintable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ValidateID checks an identifier that appears in URL paths (instance and
// definition IDs, slugs): no slashes, no spaces, bounded length.
func ValidateID(field, id string) error {
	switch {
	case id == "":
		return Invalid(field, "is required")
	case len(id) > MaxIDLen:
		return Invalid(field, "is %d characters, the limit is %d", len(id), MaxIDLen)
	case !isID(id):
		return Invalid(field, "%q must start with a letter or digit and contain only letters, digits, '_', '.', ':' and '-'", id)
	}
	return nil
}

// ValidateMeta checks an instance's meta: at most MaxMeta pairs, keys of
// letters, digits, '_', '-' and '.' up to MaxMetaKeyLen bytes, values of
// printable UTF-8 up to MaxMetaValueLen bytes. A refusal names the key
// (field "meta.KEY").
func ValidateMeta(meta map[string]string) error {
	if len(meta) > MaxMeta {
		return Invalid("meta", "has %d pairs, the limit is %d", len(meta), MaxMeta)
	}
	for k, v := range meta {
		switch {
		case k == "":
			return Invalid("meta", "has an empty key")
		case len(k) > MaxMetaKeyLen:
			return Invalid("meta."+k, "the key is %d bytes, the limit is %d", len(k), MaxMetaKeyLen)
		case !isMetaKey(k):
			return Invalid("meta."+k, "the key %q may hold only letters, digits, '_', '-' and '.'", k)
		case len(v) > MaxMetaValueLen:
			return Invalid("meta."+k, "the value is %d bytes, the limit is %d", len(v), MaxMetaValueLen)
		case !utf8.ValidString(v):
			return Invalid("meta."+k, "the value is not UTF-8")
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return Invalid("meta."+k, "the value holds a control character (%U)", r)
			}
		}
	}
	return nil
}
