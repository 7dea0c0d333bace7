package fsm

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/api"
)

// row is how the instances table stores an instance: 160 bytes where an
// api.Instance takes a 320-byte allocation, which made the rows half of a
// replica's live heap (and, at Go's default GOGC, a quarter of its RSS).
// What most rows leave empty moves to rowMore, allocated only for the rows
// that use it; the scheme, host, IP and path are spans of the URL they are
// read from; the times are seconds and nanoseconds. A row is never written
// after it is stored: readers get an *Instance built from it (instance),
// which shares its strings, tags, meta and check.
type row struct {
	id, url, slug, nodeURL string
	reason                 string // StatusReason
	check                  *api.Check
	more                   *rowMore // nil when the row needs none of it
	create, modify         uint64
	beatSec, changedSec    int64
	beatNsec, changedNsec  int32
	scheme, host, ip, path span
	port                   int32
	status                 uint8 // 1 + its place in api.Statuses; 0: in rowMore
}

// rowMore holds what most rows leave empty, and the exact value of any
// field the compact form cannot give back as it was (a part that is not
// in the URL, a port past int32, a status outside the seed's, a time with
// a location or a monotonic reading).
type rowMore struct {
	deploymentID, details string
	tags                  []string
	meta                  map[string]string
	// The scheme, host, IP and path (in that order) that are not spans of
	// the URL.
	parts  [4]string
	port   int
	status Status
	beat   *time.Time
	chg    *time.Time
}

// span is a part of the URL: url[off:off+n]. outside marks a part held in
// rowMore.parts instead.
type span struct{ off, n uint16 }

var outside = span{math.MaxUint16, math.MaxUint16}

// compact returns the stored form of in (already interned).
func compact(in *Instance) *row {
	r := &row{id: in.ID, url: in.URL, slug: in.Slug, nodeURL: in.NodeURL, reason: in.StatusReason,
		check: in.Check, create: in.CreateIndex, modify: in.ModifyIndex}
	var more rowMore // on the stack: copied out only for the rows that need it
	need := in.DeploymentID != "" || in.Details != "" || in.Tags != nil || in.Meta != nil
	if i := slices.Index(api.Statuses, in.Status); i >= 0 {
		r.status = uint8(i + 1)
	} else {
		more.status, need = in.Status, true
	}
	more.deploymentID, more.details, more.tags, more.meta = in.DeploymentID, in.Details, in.Tags, in.Meta
	for i, p := range [4]struct {
		dst *span
		v   string
	}{{&r.scheme, in.Scheme}, {&r.host, in.Host}, {&r.ip, in.IP}, {&r.path, in.Path}} {
		if s, ok := spanOf(in.URL, p.v); ok {
			*p.dst = s
			continue
		}
		*p.dst, more.parts[i], need = outside, p.v, true
	}
	if int(int32(in.Port)) == in.Port && in.Port != math.MinInt32 {
		r.port = int32(in.Port)
	} else {
		r.port, more.port, need = math.MinInt32, in.Port, true
	}
	var ok bool
	if r.beatSec, r.beatNsec, ok = stamp(in.LastHeartbeat); !ok {
		t := in.LastHeartbeat
		more.beat, need = &t, true
	}
	if r.changedSec, r.changedNsec, ok = stamp(in.StatusChangedAt); !ok {
		t := in.StatusChangedAt
		more.chg, need = &t, true
	}
	if need {
		m := more
		r.more = &m
	}
	return r
}

// instance builds the *Instance the row stores; it shares the row's
// strings, tags, meta and check, which no one writes.
func (r *row) instance() *Instance {
	in := &Instance{ID: r.id, URL: r.url, Slug: r.slug, NodeURL: r.nodeURL, StatusReason: r.reason,
		Check: r.check, CreateIndex: r.create, ModifyIndex: r.modify, Port: int(r.port),
		LastHeartbeat: unstamp(r.beatSec, r.beatNsec), StatusChangedAt: unstamp(r.changedSec, r.changedNsec)}
	m := r.more
	in.Status = r.statusOf()
	for i, p := range [4]struct {
		dst *string
		s   span
	}{{&in.Scheme, r.scheme}, {&in.Host, r.host}, {&in.IP, r.ip}, {&in.Path, r.path}} {
		if p.s == outside {
			*p.dst = m.parts[i]
		} else {
			*p.dst = r.url[p.s.off : p.s.off+p.s.n]
		}
	}
	if m == nil {
		return in
	}
	in.DeploymentID, in.Details, in.Tags, in.Meta = m.deploymentID, m.details, m.tags, m.meta
	if r.port == math.MinInt32 {
		in.Port = m.port
	}
	if m.beat != nil {
		in.LastHeartbeat = *m.beat
	}
	if m.chg != nil {
		in.StatusChangedAt = *m.chg
	}
	return in
}

// spanOf finds part in url (the first place, as internRow shares it; ""
// is the empty span).
func spanOf(url, part string) (span, bool) {
	if part == "" {
		return span{}, true
	}
	if len(url) >= math.MaxUint16 {
		return outside, false
	}
	if i := strings.Index(url, part); i >= 0 {
		return span{uint16(i), uint16(len(part))}, true
	}
	return outside, false
}

// stamp splits a UTC time without a monotonic reading (how every time in
// a stored row is decoded) into seconds and nanoseconds; ok is false for
// any other time, which the row then keeps whole.
func stamp(t time.Time) (sec int64, nsec int32, ok bool) {
	sec, nsec = t.Unix(), int32(t.Nanosecond())
	return sec, nsec, unstamp(sec, nsec) == t
}

func unstamp(sec int64, nsec int32) time.Time {
	return time.Unix(sec, int64(nsec)).UTC()
}

// statusOf is the row's status without building the instance.
func (r *row) statusOf() Status {
	if r.status > 0 {
		return api.Statuses[r.status-1]
	}
	return r.more.status
}

// tagsOf is the row's tags (shared: not to be written).
func (r *row) tagsOf() []string {
	if r.more == nil {
		return nil
	}
	return r.more.tags
}
