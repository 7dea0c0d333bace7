package httpapi

import (
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/forward"
	"github.com/rosterhq/roster/fsm"
)

// A registration's body is decoded by hand when it takes the plain form
// clients send (ASCII strings without escapes, every key known and given
// once, a check of type and path only): encoding/json's reflection and
// its decoders' buffers were 5% of an entry follower's CPU and 7% of the
// leader's (which decodes every forwarded batch). Anything else (an
// escape, a null, a key in other case, a duration in a check, a number in
// another form) declines, and encoding/json decodes the body as before,
// with its errors; a fuzz test holds the two to the same result on every
// body the fast path takes.

// decodeFastJSON decodes raw into v when v is a registration or a
// forwarded batch and raw is in the plain form; false leaves v as it was.
func decodeFastJSON(raw []byte, v any) bool {
	s := jsonScanner{b: raw}
	switch v := v.(type) {
	case *api.RegisterRequest:
		var r api.RegisterRequest
		if !s.register(&r) || !s.end() {
			return false
		}
		*v = r
		return true
	case *forward.BatchRequest:
		var b forward.BatchRequest
		if !s.batch(&b) || !s.end() {
			return false
		}
		*v = b
		return true
	}
	return false
}

// jsonScanner reads JSON from b at i; its methods return false on anything
// outside the plain form.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end is true when only white space follows.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// byte consumes c, after white space.
func (s *jsonScanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek is the next byte after white space, 0 at the end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// strBytes reads a string of printable ASCII without escapes, in place.
func (s *jsonScanner) strBytes() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (s *jsonScanner) str() (string, bool) {
	p, ok := s.strBytes()
	return string(p), ok
}

// int reads an integer in JSON's form (no leading zero) of at most 18
// digits; a fraction or exponent after it is left unread, and the member
// list it is in then declines.
func (s *jsonScanner) int() (int, bool) {
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// members reads an object's members, calling member with each key (which
// reads the value); a key given twice, or member's false, ends it with
// false. keys are the ones member takes: at most 64.
func (s *jsonScanner) members(keys []string, member func(k int) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	var seen uint64
	for {
		name, ok := s.strBytes()
		if !ok || !s.byte(':') {
			return false
		}
		k := -1
		for j, want := range keys {
			if want == string(name) { // compared in place
				k = j
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		if !member(k) {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// strings reads an array of strings ([] is an empty, non-nil slice, as
// encoding/json makes it).
func (s *jsonScanner) strings() ([]string, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []string{}
	if s.byte(']') {
		return out, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

// stringMap reads an object of strings; a key twice declines.
func (s *jsonScanner) stringMap() (map[string]string, bool) {
	if !s.byte('{') {
		return nil, false
	}
	out := map[string]string{}
	if s.byte('}') {
		return out, true
	}
	for {
		k, ok := s.str()
		if !ok || !s.byte(':') {
			return nil, false
		}
		if _, dup := out[k]; dup {
			return nil, false
		}
		if out[k], ok = s.str(); !ok {
			return nil, false
		}
		if s.byte('}') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

var registerKeys = []string{"id", "url", "scheme", "host", "ip", "port", "path", "slug", "deploymentId", "nodeUrl",
	"tags", "meta", "status", "details", "check"}

func (s *jsonScanner) register(r *api.RegisterRequest) bool {
	return s.members(registerKeys, func(k int) bool {
		var ok bool
		switch registerKeys[k] {
		case "id":
			r.ID, ok = s.str()
		case "url":
			r.URL, ok = s.str()
		case "scheme":
			r.Scheme, ok = s.str()
		case "host":
			r.Host, ok = s.str()
		case "ip":
			r.IP, ok = s.str()
		case "port":
			r.Port, ok = s.int()
		case "path":
			r.Path, ok = s.str()
		case "slug":
			r.Slug, ok = s.str()
		case "deploymentId":
			r.DeploymentID, ok = s.str()
		case "nodeUrl":
			r.NodeURL, ok = s.str()
		case "tags":
			r.Tags, ok = s.strings()
		case "meta":
			r.Meta, ok = s.stringMap()
		case "status":
			var v string
			v, ok = s.str()
			r.Status = api.Status(v)
		case "details":
			r.Details, ok = s.str()
		case "check":
			r.Check = new(api.Check)
			ok = s.check(r.Check)
		}
		return ok
	})
}

var checkKeys = []string{"type", "path"}

// check reads a check of type and path only: the other fields go through
// Check.UnmarshalJSON's rules and messages.
func (s *jsonScanner) check(c *api.Check) bool {
	return s.members(checkKeys, func(k int) bool {
		v, ok := s.str()
		if k == 0 {
			c.Type = api.CheckType(v)
		} else {
			c.Path = v
		}
		return ok
	})
}

func (s *jsonScanner) batch(b *forward.BatchRequest) bool {
	return s.members([]string{"writes"}, func(int) bool {
		if !s.byte('[') {
			return false
		}
		b.Writes = []forward.Write{}
		if s.byte(']') {
			return true
		}
		for {
			var w forward.Write
			if !s.write(&w) {
				return false
			}
			b.Writes = append(b.Writes, w)
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	})
}

var writeKeys = []string{"register", "deregister", "auth"}

func (s *jsonScanner) write(w *forward.Write) bool {
	return s.members(writeKeys, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			w.Register = new(api.RegisterRequest)
			ok = s.register(w.Register)
		case 1:
			w.Deregister, ok = s.str()
		default:
			w.Auth = new(fsm.Auth)
			ok = s.auth(w.Auth)
		}
		return ok
	})
}

var authKeys = []string{"accessor", "permission", "at"}

func (s *jsonScanner) auth(a *fsm.Auth) bool {
	return s.members(authKeys, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			a.Accessor, ok = s.str()
		case 1:
			a.Permission, ok = s.str()
		default:
			ok = s.time(&a.At)
		}
		return ok
	})
}

// time reads a string as time.Time's own UnmarshalJSON does (the call
// encoding/json makes).
func (s *jsonScanner) time(t *time.Time) bool {
	s.ws()
	start := s.i
	if _, ok := s.strBytes(); !ok {
		return false
	}
	return t.UnmarshalJSON(s.b[start:s.i]) == nil
}
