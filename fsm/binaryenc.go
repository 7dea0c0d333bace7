package fsm

import (
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// encodeFast writes a registration or a deregistration (with its auth and
// quota: what decodeFast reads) as the codec writes it, without the
// codec's reflection: the leader encodes every write it is sent, and the
// codec spent a tenth of the leader's allocations on it. The bytes are the
// codec's (the keys of a struct sorted by name, its omitempty rules, the
// smallest integer forms, times as the timestamp extension) except that a
// meta map's keys come sorted where the codec writes them in Go's map
// order; a test holds the two to the same bytes. ok is false for any
// other command, which the codec encodes.
func encodeFast(b []byte, c *Command) ([]byte, bool) {
	switch {
	case c.Definition != nil || c.Statuses != nil || c.Batch != nil || c.Token != nil || c.KV != nil:
		return nil, false
	case c.Type == CmdRegisterInstance && c.Register != nil:
	case c.Type == CmdDeregisterInstance && c.Register == nil:
	default:
		return nil, false
	}
	w := mpWriter{b: b}
	n := 1 // type
	for _, set := range []bool{c.Auth != nil, c.ID != "", c.Quota != nil, c.Register != nil} {
		if set {
			n++
		}
	}
	w.mapLen(n)
	if c.Auth != nil {
		w.str("auth")
		w.mapLen(3)
		w.str("accessor")
		w.str(c.Auth.Accessor)
		w.str("at")
		w.time(c.Auth.At)
		w.str("permission")
		w.str(c.Auth.Permission)
	}
	if c.ID != "" {
		w.str("id")
		w.str(c.ID)
	}
	if q := c.Quota; q != nil {
		w.str("quota")
		w.mapLen(count(q.MaxBytes != 0, q.MaxInstances != 0))
		if q.MaxBytes != 0 {
			w.str("maxBytes")
			w.int(q.MaxBytes)
		}
		if q.MaxInstances != 0 {
			w.str("maxInstances")
			w.int(int64(q.MaxInstances))
		}
	}
	if rc := c.Register; rc != nil {
		w.str("register")
		w.mapLen(3 + count(rc.DefaultCheck != nil)) // instance, newId, now
		if rc.DefaultCheck != nil {
			w.str("defaultCheck")
			w.check(rc.DefaultCheck)
		}
		w.str("instance")
		w.instance(&rc.Instance)
		w.str("newId")
		w.str(rc.NewID)
		w.str("now")
		w.time(rc.Now)
	}
	w.str("type")
	w.uint(uint64(c.Type))
	return w.b, true
}

func count(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

// mpWriter appends MessagePack in the forms the codec writes.
type mpWriter struct{ b []byte }

func (w *mpWriter) mapLen(n int)   { w.containerLen(0x80, 0xde, 0xdf, n) }
func (w *mpWriter) arrayLen(n int) { w.containerLen(0x90, 0xdc, 0xdd, n) }

func (w *mpWriter) containerLen(fix, len16, len32 byte, n int) {
	switch {
	case n < 16:
		w.b = append(w.b, fix|byte(n))
	case n < 1<<16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, len16), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, len32), uint32(n))
	}
}

func (w *mpWriter) str(s string) {
	switch n := len(s); {
	case n < 32:
		w.b = append(w.b, 0xa0|byte(n))
	case n < 256:
		w.b = append(w.b, 0xd9, byte(n))
	case n < 1<<16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xda), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdb), uint32(n))
	}
	w.b = append(w.b, s...)
}

func (w *mpWriter) uint(u uint64) {
	switch {
	case u <= math.MaxInt8:
		w.b = append(w.b, byte(u))
	case u <= math.MaxUint8:
		w.b = append(w.b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xce), uint32(u))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xcf), u)
	}
}

// int writes a signed integer: a positive one past a fixint takes the
// signed forms, as the codec's EncodeInt does.
func (w *mpWriter) int(i int64) {
	switch {
	case i > math.MaxInt32:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xd3), uint64(i))
	case i > math.MaxInt16:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xd2), uint32(i))
	case i > math.MaxInt8:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xd1), uint16(i))
	case i >= -32:
		w.b = append(w.b, byte(i))
	case i >= math.MinInt8:
		w.b = append(w.b, 0xd0, byte(i))
	case i >= math.MinInt16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xd1), uint16(i))
	case i >= math.MinInt32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xd2), uint32(i))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xd3), uint64(i))
	}
}

// time writes nil for the zero time, otherwise the timestamp extension
// (type -1) of 4, 8 or 12 bytes.
func (w *mpWriter) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0xc0)
		return
	}
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	if sec < 0 || sec>>34 != 0 {
		w.b = append(w.b, 0xc7, 12, 0xff)
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(nsec))
		w.b = binary.BigEndian.AppendUint64(w.b, uint64(sec))
		return
	}
	v := nsec<<34 | uint64(sec)
	if v>>32 == 0 {
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xd6, 0xff), uint32(v))
		return
	}
	w.b = binary.BigEndian.AppendUint64(append(w.b, 0xd7, 0xff), v)
}

// optStr writes key and s unless s is empty (omitempty).
func (w *mpWriter) optStr(key, s string) {
	if s != "" {
		w.str(key)
		w.str(s)
	}
}

func (w *mpWriter) instance(in *Instance) {
	// id, url, lastHeartbeat, status, statusChangedAt (the codec does not
	// know omitzero), createIndex and modifyIndex are always written.
	w.mapLen(7 + count(in.Check != nil, in.DeploymentID != "", in.Details != "", in.Host != "", in.IP != "",
		len(in.Meta) > 0, in.NodeURL != "", in.Path != "", in.Port != 0, in.Scheme != "", in.Slug != "",
		in.StatusReason != "", len(in.Tags) > 0))
	if in.Check != nil {
		w.str("check")
		w.check(in.Check)
	}
	w.str("createIndex")
	w.uint(in.CreateIndex)
	w.optStr("deploymentId", in.DeploymentID)
	w.optStr("details", in.Details)
	w.optStr("host", in.Host)
	w.str("id")
	w.str(in.ID)
	w.optStr("ip", in.IP)
	w.str("lastHeartbeat")
	w.time(in.LastHeartbeat)
	if len(in.Meta) > 0 {
		w.str("meta")
		w.mapLen(len(in.Meta))
		keys := make([]string, 0, len(in.Meta))
		for k := range in.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.str(k)
			w.str(in.Meta[k])
		}
	}
	w.str("modifyIndex")
	w.uint(in.ModifyIndex)
	w.optStr("nodeUrl", in.NodeURL)
	w.optStr("path", in.Path)
	if in.Port != 0 {
		w.str("port")
		w.int(int64(in.Port))
	}
	w.optStr("scheme", in.Scheme)
	w.optStr("slug", in.Slug)
	w.str("status")
	w.str(string(in.Status))
	w.str("statusChangedAt")
	w.time(in.StatusChangedAt)
	w.optStr("statusReason", in.StatusReason)
	if len(in.Tags) > 0 {
		w.str("tags")
		w.arrayLen(len(in.Tags))
		for _, t := range in.Tags {
			w.str(t)
		}
	}
	w.str("url")
	w.str(in.URL)
}

func (w *mpWriter) check(c *Check) {
	// Every field but path is written: the codec does not know omitzero.
	w.mapLen(7 + count(c.Path != ""))
	w.str("deregisterAfter")
	w.int(int64(c.DeregisterAfter))
	w.str("failuresBeforeUnhealthy")
	w.int(int64(c.FailuresBeforeUnhealthy))
	w.str("interval")
	w.int(int64(c.Interval))
	w.optStr("path", c.Path)
	w.str("successesBeforeHealthy")
	w.int(int64(c.SuccessesBeforeHealthy))
	w.str("timeout")
	w.int(int64(c.Timeout))
	w.str("ttl")
	w.int(int64(c.TTL))
	w.str("type")
	w.str(string(c.Type))
}
