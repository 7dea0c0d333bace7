package jsonw

import (
	"encoding/json"
	"testing"
)

// Every string the writer takes it writes as encoding/json does: each
// byte alone and between letters.
func TestStrWritesWhatEncodingJSONWrites(t *testing.T) {
	taken := 0
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "b"} {
			w := New(nil)
			w.Str(s)
			if !w.OK {
				continue
			}
			taken++
			want, _ := json.Marshal(s)
			if string(w.B) != string(want) {
				t.Fatalf("%q: wrote %s, encoding/json %s", s, w.B, want)
			}
		}
	}
	if taken < 2*(0x7f-0x20-5) {
		t.Fatalf("took %d strings: printable ASCII is refused", taken)
	}
}
