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
// than the apply itself. It takes only the encoding encodeBinary writes;
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

func (r *mpReader) mapLen() (int, bool) {
	t, ok := r.next()
	switch {
	case !ok:
		return 0, false
	case t >= 0x80 && t <= 0x8f:
		return int(t & 0x0f), true
	case t == 0xde:
		return r.length(2)
	case t == 0xdf:
		return r.length(4)
	}
	return 0, false
}

func (r *mpReader) arrayLen() (int, bool) {
	t, ok := r.next()
	switch {
	case !ok:
		return 0, false
	case t >= 0x90 && t <= 0x9f:
		return int(t & 0x0f), true
	case t == 0xdc:
		return r.length(2)
	case t == 0xdd:
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

// key reads the next key of a map of known keys and returns its index in
// keys. A key it does not know, or one seen before (seen holds their
// bits), is false.
func (r *mpReader) key(keys []string, seen *uint64) (int, bool) {
	name, ok := r.strBytes()
	if !ok {
		return 0, false
	}
	for k, want := range keys {
		if want == string(name) { // no allocation: compared in place
			if *seen&(1<<k) != 0 {
				return 0, false
			}
			*seen |= 1 << k
			return k, true
		}
	}
	return 0, false
}

var commandKeys = []string{"type", "register", "id", "batch", "auth", "quota"}

// command reads a Command of the kinds decodeFast takes; a batch's writes
// are commands too (top is false for them: a batch holds no batch).
func (r *mpReader) command(c *Command, top bool) bool {
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(commandKeys, &seen); !ok {
			break
		}
		switch k {
		case 0:
			var v uint64
			v, ok = r.uint()
			c.Type = CommandType(v)
			ok = ok && v <= math.MaxUint8
		case 1:
			c.Register = new(RegisterCommand)
			ok = r.register(c.Register)
		case 2:
			c.ID, ok = r.str()
		case 3:
			var m int
			m, ok = r.arrayLen()
			if !top || !ok || m > len(r.b)-r.i {
				return false
			}
			c.Batch = make([]Command, m)
			for j := 0; ok && j < m; j++ {
				ok = r.command(&c.Batch[j], false)
			}
		case 4:
			c.Auth = new(Auth)
			ok = r.auth(c.Auth)
		default:
			c.Quota = new(api.Quota)
			ok = r.quota(c.Quota)
		}
	}
	return ok
}

var registerKeys = []string{"instance", "newId", "now", "defaultCheck"}

func (r *mpReader) register(rc *RegisterCommand) bool {
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(registerKeys, &seen); !ok {
			break
		}
		switch k {
		case 0:
			ok = r.instance(&rc.Instance)
		case 1:
			rc.NewID, ok = r.str()
		case 2:
			rc.Now, ok = r.time()
		default:
			rc.DefaultCheck = new(Check)
			ok = r.check(rc.DefaultCheck)
		}
	}
	return ok
}

var instanceKeys = []string{"id", "url", "deploymentId", "nodeUrl", "lastHeartbeat", "path", "scheme", "host", "ip", "port",
	"status", "details", "slug", "tags", "meta", "check", "statusChangedAt", "statusReason", "createIndex", "modifyIndex"}

func (r *mpReader) instance(in *Instance) bool {
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(instanceKeys, &seen); !ok {
			break
		}
		switch k {
		case 0:
			in.ID, ok = r.str()
		case 1:
			in.URL, ok = r.str()
		case 2:
			in.DeploymentID, ok = r.str()
		case 3:
			in.NodeURL, ok = r.str()
		case 4:
			in.LastHeartbeat, ok = r.time()
		case 5:
			in.Path, ok = r.str()
		case 6:
			in.Scheme, ok = r.str()
		case 7:
			in.Host, ok = r.str()
		case 8:
			in.IP, ok = r.str()
		case 9:
			var v int64
			v, ok = r.int()
			in.Port = int(v)
		case 10:
			var s string
			s, ok = r.str()
			in.Status = Status(s)
		case 11:
			in.Details, ok = r.str()
		case 12:
			in.Slug, ok = r.str()
		case 13:
			in.Tags, ok = r.strings()
		case 14:
			in.Meta, ok = r.stringMap()
		case 15:
			in.Check = new(Check)
			ok = r.check(in.Check)
		case 16:
			in.StatusChangedAt, ok = r.time()
		case 17:
			in.StatusReason, ok = r.str()
		case 18:
			in.CreateIndex, ok = r.uint()
		default:
			in.ModifyIndex, ok = r.uint()
		}
	}
	return ok
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
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(checkKeys, &seen); !ok {
			break
		}
		if k <= 1 {
			var s string
			s, ok = r.str()
			if k == 0 {
				c.Type = api.CheckType(s)
			} else {
				c.Path = s
			}
			continue
		}
		var v int64
		v, ok = r.int()
		switch k {
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
	return ok
}

var authKeys = []string{"accessor", "permission", "at"}

func (r *mpReader) auth(a *Auth) bool {
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(authKeys, &seen); !ok {
			break
		}
		switch k {
		case 0:
			a.Accessor, ok = r.str()
		case 1:
			a.Permission, ok = r.str()
		default:
			a.At, ok = r.time()
		}
	}
	return ok
}

var quotaKeys = []string{"maxInstances", "maxBytes"}

func (r *mpReader) quota(q *api.Quota) bool {
	n, ok := r.mapLen()
	var seen uint64
	for i := 0; ok && i < n; i++ {
		var k int
		if k, ok = r.key(quotaKeys, &seen); !ok {
			break
		}
		var v int64
		v, ok = r.int()
		if k == 0 {
			q.MaxInstances = int(v)
		} else {
			q.MaxBytes = v
		}
	}
	return ok
}
