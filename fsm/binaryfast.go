package fsm

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/rosterhq/roster/api"
)

// decodeFast reads the commands a busy cluster writes most (registrations,
// deregistrations and batches of them, with their auth and quota) straight
// from format 2's MessagePack, without the codec's reflection: every
// replica decodes every entry, and the codec spent more on a registration
// than the apply itself. It takes only the encoding appendBinary writes;
// anything else (another command, a field it does not know, a key twice,
// another integer or time form) returns false and the codec decodes the
// entry as before. A fuzz test holds the two to the same result on every
// input this one takes.
func decodeFast(b []byte, c *Command) bool {
	r := mpReader{b: b}
	if !r.command(c, true) || r.i != len(r.b) {
		*c = Command{}
		return false
	}
	return true
}

// mpReader reads MessagePack from b at i. Its methods return false on
// anything outside the forms they take; the caller gives up then.
type mpReader struct {
	b []byte
	i int
}

func (r *mpReader) next() (byte, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	r.i++
	return r.b[r.i-1], true
}

// take returns the next n bytes.
func (r *mpReader) take(n int) ([]byte, bool) {
	if n < 0 || len(r.b)-r.i < n {
		return nil, false
	}
	r.i += n
	return r.b[r.i-n : r.i], true
}

// length reads a big-endian length of 1, 2 or 4 bytes.
func (r *mpReader) length(size int) (int, bool) {
	p, ok := r.take(size)
	if !ok {
		return 0, false
	}
	switch size {
	case 1:
		return int(p[0]), true
	case 2:
		return int(binary.BigEndian.Uint16(p)), true
	default:
		return int(binary.BigEndian.Uint32(p)), true
	}
}

// nilNext consumes a nil if one comes next.
func (r *mpReader) nilNext() bool {
	if r.i < len(r.b) && r.b[r.i] == 0xc0 {
		r.i++
		return true
	}
	return false
}

func (r *mpReader) mapLen() (int, bool)   { return r.containerLen(0x80, 0xde, 0xdf) }
func (r *mpReader) arrayLen() (int, bool) { return r.containerLen(0x90, 0xdc, 0xdd) }

// containerLen reads a map or array header: fix (its 16 fixed forms, the
// length in the low 4 bits), or the 16- and 32-bit length forms.
func (r *mpReader) containerLen(fix, len16, len32 byte) (int, bool) {
	t, ok := r.next()
	switch {
	case !ok:
		return 0, false
	case t >= fix && t <= fix|0x0f:
		return int(t & 0x0f), true
	case t == len16:
		return r.length(2)
	case t == len32:
		return r.length(4)
	}
	return 0, false
}

// str reads a MessagePack str (never bin or nil: the encoder writes
// neither for a string).
func (r *mpReader) str() (string, bool) {
	p, ok := r.strBytes()
	return string(p), ok
}

// strBytes reads a str's bytes in place.
func (r *mpReader) strBytes() ([]byte, bool) {
	t, ok := r.next()
	n := 0
	switch {
	case !ok:
		return nil, false
	case t >= 0xa0 && t <= 0xbf:
		n = int(t & 0x1f)
	case t == 0xd9:
		n, ok = r.length(1)
	case t == 0xda:
		n, ok = r.length(2)
	case t == 0xdb:
		n, ok = r.length(4)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return r.take(n)
}

// int reads any MessagePack integer within int64.
func (r *mpReader) int() (int64, bool) {
	t, ok := r.next()
	switch {
	case !ok:
		return 0, false
	case t <= 0x7f:
		return int64(t), true
	case t >= 0xe0:
		return int64(int8(t)), true
	}
	if t < 0xcc || t > 0xd3 {
		return 0, false
	}
	size := 1 << (t & 0x03) // 0xcc-0xcf and 0xd0-0xd3: 1, 2, 4, 8 bytes
	p, ok := r.take(size)
	if !ok {
		return 0, false
	}
	var u uint64
	for _, x := range p {
		u = u<<8 | uint64(x)
	}
	if t >= 0xd0 { // signed: extend the sign of a short form
		shift := 64 - 8*size
		return int64(u<<shift) >> shift, true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func (r *mpReader) uint() (uint64, bool) {
	v, ok := r.int()
	return uint64(v), ok && v >= 0
}

// time reads a nil (the zero time, as the encoder writes it) or a
// timestamp extension (type -1) of 4, 8 or 12 bytes, in UTC.
func (r *mpReader) time() (time.Time, bool) {
	if r.nilNext() {
		return time.Time{}, true
	}
	t, ok := r.next()
	if !ok {
		return time.Time{}, false
	}
	var n int
	switch t {
	case 0xd6:
		n = 4
	case 0xd7:
		n = 8
	case 0xc7:
		if n, ok = r.length(1); !ok || n != 12 {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if typ, ok := r.next(); !ok || int8(typ) != -1 {
		return time.Time{}, false
	}
	p, ok := r.take(n)
	if !ok {
		return time.Time{}, false
	}
	var sec, nsec int64
	switch n {
	case 4:
		sec = int64(binary.BigEndian.Uint32(p))
	case 8:
		v := binary.BigEndian.Uint64(p)
		nsec, sec = int64(v>>34), int64(v&(1<<34-1))
	default:
		nsec, sec = int64(binary.BigEndian.Uint32(p)), int64(binary.BigEndian.Uint64(p[4:]))
	}
	if nsec > 999_999_999 {
		return time.Time{}, false
	}
	return time.Unix(sec, nsec).UTC(), true
}

// fields reads a map of known keys, one key a call of next:
//
//	f := r.fields(keys)
//	for f.next() {
//		switch f.key { case 0: v, f.ok = r.str() ... }
//	}
//	return f.ok
//
// A key it does not know, or one seen before, ends it with ok false.
type fields struct {
	r    *mpReader
	keys []string
	left int
	seen uint64 // a bit a key index
	key  int
	ok   bool
}

func (r *mpReader) fields(keys []string) fields {
	n, ok := r.mapLen()
	return fields{r: r, keys: keys, left: n, ok: ok}
}

// next reads the next key into f.key; false at the end or on a failure.
func (f *fields) next() bool {
	if !f.ok || f.left == 0 {
		return false
	}
	f.left--
	name, ok := f.r.strBytes()
	f.ok = false
	if !ok {
		return false
	}
	for k, want := range f.keys {
		if want == string(name) { // compared in place, no allocation
			if f.seen&(1<<k) != 0 {
				return false
			}
			f.seen |= 1 << k
			f.key, f.ok = k, true
			return true
		}
	}
	return false
}

var commandKeys = []string{"type", "register", "id", "batch", "auth", "quota"}

// command reads a Command of the kinds decodeFast takes; a batch's writes
// are commands too (top is false for them: a batch holds no batch).
func (r *mpReader) command(c *Command, top bool) bool {
	f := r.fields(commandKeys)
	for f.next() {
		switch f.key {
		case 0:
			var v uint64
			v, f.ok = r.uint()
			c.Type = CommandType(v)
			f.ok = f.ok && v <= math.MaxUint8
		case 1:
			c.Register = new(RegisterCommand)
			f.ok = r.register(c.Register)
		case 2:
			c.ID, f.ok = r.str()
		case 3:
			var m int
			m, f.ok = r.arrayLen()
			if !top || !f.ok || m > len(r.b)-r.i {
				return false
			}
			c.Batch = make([]Command, m)
			for j := 0; f.ok && j < m; j++ {
				f.ok = r.command(&c.Batch[j], false)
			}
		case 4:
			c.Auth = new(Auth)
			f.ok = r.auth(c.Auth)
		default:
			c.Quota = new(api.Quota)
			f.ok = r.quota(c.Quota)
		}
	}
	return f.ok
}

var registerKeys = []string{"instance", "newId", "now", "defaultCheck"}

func (r *mpReader) register(rc *RegisterCommand) bool {
	f := r.fields(registerKeys)
	for f.next() {
		switch f.key {
		case 0:
			f.ok = r.instance(&rc.Instance)
		case 1:
			rc.NewID, f.ok = r.str()
		case 2:
			rc.Now, f.ok = r.time()
		default:
			rc.DefaultCheck = new(Check)
			f.ok = r.check(rc.DefaultCheck)
		}
	}
	return f.ok
}

var instanceKeys = []string{"id", "url", "deploymentId", "nodeUrl", "lastHeartbeat", "path", "scheme", "host", "ip", "port",
	"status", "details", "slug", "tags", "meta", "check", "statusChangedAt", "statusReason", "createIndex", "modifyIndex"}

func (r *mpReader) instance(in *Instance) bool {
	f := r.fields(instanceKeys)
	for f.next() {
		switch f.key {
		case 0:
			in.ID, f.ok = r.str()
		case 1:
			in.URL, f.ok = r.str()
		case 2:
			in.DeploymentID, f.ok = r.str()
		case 3:
			in.NodeURL, f.ok = r.str()
		case 4:
			in.LastHeartbeat, f.ok = r.time()
		case 5:
			in.Path, f.ok = r.str()
		case 6:
			in.Scheme, f.ok = r.str()
		case 7:
			in.Host, f.ok = r.str()
		case 8:
			in.IP, f.ok = r.str()
		case 9:
			var v int64
			v, f.ok = r.int()
			in.Port = int(v)
		case 10:
			var s string
			s, f.ok = r.str()
			in.Status = Status(s)
		case 11:
			in.Details, f.ok = r.str()
		case 12:
			in.Slug, f.ok = r.str()
		case 13:
			in.Tags, f.ok = r.strings()
		case 14:
			in.Meta, f.ok = r.stringMap()
		case 15:
			in.Check = new(Check)
			f.ok = r.check(in.Check)
		case 16:
			in.StatusChangedAt, f.ok = r.time()
		case 17:
			in.StatusReason, f.ok = r.str()
		case 18:
			in.CreateIndex, f.ok = r.uint()
		default:
			in.ModifyIndex, f.ok = r.uint()
		}
	}
	return f.ok
}

// strings reads a non-empty array of str (the encoder omits an empty one).
func (r *mpReader) strings() ([]string, bool) {
	n, ok := r.arrayLen()
	if !ok || n == 0 || n > len(r.b)-r.i {
		return nil, false
	}
	out := make([]string, n)
	for i := range out {
		if out[i], ok = r.str(); !ok {
			return nil, false
		}
	}
	return out, true
}

// stringMap reads a non-empty map of str to str (the encoder omits an
// empty one); a key twice is left to the codec.
func (r *mpReader) stringMap() (map[string]string, bool) {
	n, ok := r.mapLen()
	if !ok || n == 0 || n > len(r.b)-r.i {
		return nil, false
	}
	out := make(map[string]string, n)
	for range n {
		k, ok := r.str()
		if !ok {
			return nil, false
		}
		if _, dup := out[k]; dup {
			return nil, false
		}
		if out[k], ok = r.str(); !ok {
			return nil, false
		}
	}
	return out, true
}

var checkKeys = []string{"type", "path", "interval", "timeout", "ttl", "failuresBeforeUnhealthy", "successesBeforeHealthy", "deregisterAfter"}

func (r *mpReader) check(c *Check) bool {
	f := r.fields(checkKeys)
	for f.next() {
		if f.key <= 1 {
			var s string
			s, f.ok = r.str()
			if f.key == 0 {
				c.Type = api.CheckType(s)
			} else {
				c.Path = s
			}
			continue
		}
		var v int64
		v, f.ok = r.int()
		switch f.key {
		case 2:
			c.Interval = api.Duration(v)
		case 3:
			c.Timeout = api.Duration(v)
		case 4:
			c.TTL = api.Duration(v)
		case 5:
			c.FailuresBeforeUnhealthy = int(v)
		case 6:
			c.SuccessesBeforeHealthy = int(v)
		default:
			c.DeregisterAfter = api.Duration(v)
		}
	}
	return f.ok
}

var authKeys = []string{"accessor", "permission", "at"}

func (r *mpReader) auth(a *Auth) bool {
	f := r.fields(authKeys)
	for f.next() {
		switch f.key {
		case 0:
			a.Accessor, f.ok = r.str()
		case 1:
			a.Permission, f.ok = r.str()
		default:
			a.At, f.ok = r.time()
		}
	}
	return f.ok
}

var quotaKeys = []string{"maxInstances", "maxBytes"}

func (r *mpReader) quota(q *api.Quota) bool {
	f := r.fields(quotaKeys)
	for f.next() {
		var v int64
		v, f.ok = r.int()
		if f.key == 0 {
			q.MaxInstances = int(v)
		} else {
			q.MaxBytes = v
		}
	}
	return f.ok
}
