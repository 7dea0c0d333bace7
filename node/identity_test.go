package node

import (
	"strings"
	"testing"
)

// IDs keep 1Backend's shape (prefix, a dash, 10 base62 characters) and every
// character is as likely as any other: 62,000 IDs give each of the 62 about
// 10,000 times; a modulo bias (256 % 62 = 8 characters 25% more likely)
// would be tens of standard deviations away.
func TestNewIDIsUniformBase62(t *testing.T) {
	counts := map[byte]int{}
	seen := map[string]bool{}
	for range 62000 {
		id := NewID("inst")
		rest, ok := strings.CutPrefix(id, "inst-")
		if !ok || len(rest) != 10 {
			t.Fatalf("id %q is not inst- and 10 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q came twice", id)
		}
		seen[id] = true
		for i := range len(rest) {
			if !strings.Contains(base62, rest[i:i+1]) {
				t.Fatalf("id %q has %q, not base62", id, rest[i])
			}
			counts[rest[i]]++
		}
	}
	for i := range len(base62) {
		if n := counts[base62[i]]; n < 9000 || n > 11000 {
			t.Errorf("%q came %d times in 620,000, want about 10,000", base62[i], n)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewID("inst")
	}
}
