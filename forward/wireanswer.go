package forward

import (
	"bytes"
	"encoding/json"
)

// decodeBatchResponse reads the leader's answer to a batch. The usual
// answer (AppendBatchResponse's bytes: instances and statuses, no errors)
// is split by hand, each instance a slice of body handed to its client as
// it is; anything else goes to encoding/json. encoding/json scanned every
// instance twice and copied it (4% of an entry follower's CPU). The hand
// path checks the answer's frame and that each instance is one object
// whose strings and brackets close; the instance's JSON itself is the
// leader's (forward.MarshalInstance, json.Marshal's bytes), passed on as a
// reverse proxy passes a body.
func decodeBatchResponse(body []byte) (BatchResponse, error) {
	if r, ok := splitBatchResponse(body); ok {
		return r, nil
	}
	var r BatchResponse
	err := json.Unmarshal(body, &r)
	return r, err
}

// splitBatchResponse reads {"results":[A,A,...]} where each A is
// {"status":N} or {"status":N,"instance":{...}}; ok is false for any other
// form.
func splitBatchResponse(body []byte) (r BatchResponse, ok bool) {
	const head, tail = `{"results":[`, `]}`
	rest, ok := bytes.CutPrefix(body, []byte(head))
	if !ok || !bytes.HasSuffix(rest, []byte(tail)) {
		return r, false
	}
	rest = rest[:len(rest)-len(tail)]
	r.Results = make([]Answer, 0, bytes.Count(rest, []byte(`{"status":`)))
	for len(rest) > 0 {
		if len(r.Results) > 0 {
			if rest[0] != ',' {
				return r, false
			}
			rest = rest[1:]
		}
		var a Answer
		if rest, ok = bytes.CutPrefix(rest, []byte(`{"status":`)); !ok {
			return r, false
		}
		if a.Status, rest, ok = cutStatus(rest); !ok {
			return r, false
		}
		if inst, ok := bytes.CutPrefix(rest, []byte(`,"instance":`)); ok {
			n := objectLen(inst)
			if n == 0 {
				return r, false
			}
			a.Instance, rest = inst[:n:n], inst[n:]
		}
		if len(rest) == 0 || rest[0] != '}' {
			return r, false
		}
		rest = rest[1:]
		r.Results = append(r.Results, a)
	}
	return r, len(r.Results) > 0
}

// cutStatus reads an HTTP status: three digits, the first 1-5.
func cutStatus(b []byte) (int, []byte, bool) {
	if len(b) < 3 || b[0] < '1' || b[0] > '5' {
		return 0, b, false
	}
	n := 0
	for _, c := range b[:3] {
		if c < '0' || c > '9' {
			return 0, b, false
		}
		n = n*10 + int(c-'0')
	}
	return n, b[3:], true
}

// objectLen is the length of the JSON object that b starts with, or 0 when
// b does not start with one that closes: brackets are counted outside
// strings, a string ends at an unescaped quote, and no control character
// may stand in a string.
func objectLen(b []byte) int {
	if len(b) == 0 || b[0] != '{' {
		return 0
	}
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case c == '\\':
				i++ // the escaped byte, whatever it is
			case c == '"':
				inString = false
			case c < 0x20:
				return 0
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				if c != '}' {
					return 0
				}
				return i + 1
			}
			if depth < 0 {
				return 0
			}
		}
	}
	return 0
}
