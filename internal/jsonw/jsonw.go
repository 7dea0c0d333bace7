// Package jsonw appends JSON by hand, byte for byte as encoding/json
// writes it, for the few shapes a busy node writes on every request (a
// forwarded write, an instance): reflection was several percent of a
// node's CPU. A writer gives up (OK false) at anything it does not write
// exactly as encoding/json would (a string it would escape, a time it
// refuses), and its caller then uses encoding/json.
package jsonw

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// Writer appends JSON to B; OK turns false at anything left to
// encoding/json.
type Writer struct {
	B  []byte
	OK bool
}

// New returns a Writer appending to b.
func New(b []byte) Writer { return Writer{B: b, OK: true} }

// Open starts an object.
func (w *Writer) Open() { w.B = append(w.B, '{') }

// Close ends an object.
func (w *Writer) Close() { w.B = append(w.B, '}') }

// Key writes a member's name (a field's: it needs no escaping), after a
// comma unless it opens its object or array.
func (w *Writer) Key(k string) {
	w.comma()
	w.B = append(append(append(w.B, '"'), k...), '"', ':')
}

func (w *Writer) comma() {
	if last := w.B[len(w.B)-1]; last != '{' && last != '[' {
		w.B = append(w.B, ',')
	}
}

// Str writes s when encoding/json writes it unchanged: printable ASCII
// without '"', '\' and the HTML characters it escapes.
func (w *Writer) Str(s string) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			w.OK = false
			return
		}
	}
	w.B = append(append(append(w.B, '"'), s...), '"')
}

// OptStr writes member k unless s is empty (omitempty).
func (w *Writer) OptStr(k, s string) {
	if s != "" {
		w.Key(k)
		w.Str(s)
	}
}

// Strs writes an array of strings.
func (w *Writer) Strs(ss []string) {
	w.B = append(w.B, '[')
	for i, s := range ss {
		if i > 0 {
			w.B = append(w.B, ',')
		}
		w.Str(s)
	}
	w.B = append(w.B, ']')
}

// StrMap writes a map of strings, its keys sorted as encoding/json sorts
// them.
func (w *Writer) StrMap(m map[string]string) {
	w.B = append(w.B, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.B = append(w.B, ',')
		}
		w.Str(k)
		w.B = append(w.B, ':')
		w.Str(m[k])
	}
	w.B = append(w.B, '}')
}

// Time writes t as its MarshalJSON does.
func (w *Writer) Time(t time.Time) {
	raw, err := t.MarshalJSON()
	if err != nil {
		w.OK = false
		return
	}
	w.B = append(w.B, raw...)
}

// Int writes v.
func (w *Writer) Int(v int64) { w.B = strconv.AppendInt(w.B, v, 10) }

// Uint writes v.
func (w *Writer) Uint(v uint64) { w.B = strconv.AppendUint(w.B, v, 10) }

// OptInt writes member k unless v is 0 (omitempty, omitzero).
func (w *Writer) OptInt(k string, v int64) {
	if v != 0 {
		w.Key(k)
		w.Int(v)
	}
}
