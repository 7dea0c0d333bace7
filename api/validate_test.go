package api

import (
	"math/rand/v2"
	"regexp"
	"strings"
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

func TestIsHostName(t *testing.T) {
	for _, s := range []string{"node1", "node1.example.com", "roster_node1_1", "a-b.c", strings.Repeat("a", 63) + ".x"} {
		if !IsHostName(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", ".", "a..b", ".a", "a.", "-a", "a-", "a-.b", "a.-b", "bad name!", "a:80", "https://a", "a/b",
		strings.Repeat("a", 64), strings.Repeat("a.", 127) + "aa"} {
		if IsHostName(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
