package api

import (
	"regexp"
	"unicode/utf8"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// ValidateID checks an identifier that appears in URL paths (instance and
// definition IDs, slugs): no slashes, no spaces, bounded length.
func ValidateID(field, id string) error {
	switch {
	case id == "":
		return Invalid(field, "is required")
	case len(id) > MaxIDLen:
		return Invalid(field, "is %d characters, the limit is %d", len(id), MaxIDLen)
	case !idPattern.MatchString(id):
		return Invalid(field, "%q must start with a letter or digit and contain only letters, digits, '_', '.', ':' and '-'", id)
	}
	return nil
}

var metaKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidateMeta checks an instance's meta: at most MaxMeta pairs, keys of
// letters, digits, '_', '-' and '.' up to MaxMetaKeyLen bytes, values of
// printable UTF-8 up to MaxMetaValueLen bytes. A refusal names the key
// (field "meta.KEY").
func ValidateMeta(meta map[string]string) error {
	if len(meta) > MaxMeta {
		return Invalid("meta", "has %d pairs, the limit is %d", len(meta), MaxMeta)
	}
	for k, v := range meta {
		field := "meta." + k
		switch {
		case k == "":
			return Invalid("meta", "has an empty key")
		case len(k) > MaxMetaKeyLen:
			return Invalid(field, "the key is %d bytes, the limit is %d", len(k), MaxMetaKeyLen)
		case !metaKeyPattern.MatchString(k):
			return Invalid(field, "the key %q may hold only letters, digits, '_', '-' and '.'", k)
		case len(v) > MaxMetaValueLen:
			return Invalid(field, "the value is %d bytes, the limit is %d", len(v), MaxMetaValueLen)
		case !utf8.ValidString(v):
			return Invalid(field, "the value is not UTF-8")
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return Invalid(field, "the value holds a control character (%U)", r)
			}
		}
	}
	return nil
}
