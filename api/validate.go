package api

import "regexp"

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
