package api

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The hand-written checks accept exactly what the patterns they replace
// accept: random strings over an alphabet of the allowed bytes and their
// neighbours, and edge forms.
func TestIDAndMetaKeyChecksMatchTheirPatterns(t *testing.T) {
	idPattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	metaKeyPattern := regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	alphabet := []byte("aAzZ09_.:-/ @[`{\n\x00\x7f\xc3\xa9+,~")
	cases := []string{"", "a", "-", "_a", ".a", ":a", "a\n", "\na", "a-b_c.d:e", "é", "A9", "a/b", "a b"}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 200000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := isID(s), idPattern.MatchString(s); got != want {
			t.Fatalf("isID(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := isMetaKey(s), metaKeyPattern.MatchString(s); got != want {
			t.Fatalf("isMetaKey(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
