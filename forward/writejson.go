package forward

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/rosterhq/roster/api"
)

// marshalWrite is json.Marshal(w), byte for byte, written by hand for the
// forms a registration takes (encoding/json's reflection was 2% of an
// entry follower's CPU). A string it would have to escape, or a time
// json.Marshal refuses, sends it to json.Marshal; a test holds the two to
// the same bytes.
func marshalWrite(w *Write) ([]byte, error) {
	if b, ok := appendWrite(make([]byte, 0, 384), w); ok {
		return b, nil
	}
	return json.Marshal(w)
}

func appendWrite(b []byte, w *Write) ([]byte, bool) {
	e := jsonAppender{b: append(b, '{'), ok: true}
	if r := w.Register; r != nil {
		e.key("register")
		e.register(r)
	}
	if w.Deregister != "" {
		e.key("deregister")
		e.str(w.Deregister)
	}
	if a := w.Auth; a != nil {
		e.key("auth")
		e.b = append(e.b, '{')
		e.key("accessor")
		e.str(a.Accessor)
		e.key("permission")
		e.str(a.Permission)
		e.key("at")
		e.time(a.At)
		e.b = append(e.b, '}')
	}
	return append(e.b, '}'), e.ok
}

// jsonAppender writes JSON; ok turns false at anything it leaves to
// encoding/json.
type jsonAppender struct {
	b  []byte
	ok bool
}

// key writes a member's name (a field's: it needs no escaping), after a
// comma unless it opens its object.
func (e *jsonAppender) key(k string) {
	if last := e.b[len(e.b)-1]; last != '{' && last != '[' {
		e.b = append(e.b, ',')
	}
	e.b = append(append(append(e.b, '"'), k...), '"', ':')
}

// str writes s when encoding/json writes it unchanged: printable ASCII
// without '"', '\' and the HTML characters it escapes.
func (e *jsonAppender) str(s string) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.ok = false
			return
		}
	}
	e.b = append(append(append(e.b, '"'), s...), '"')
}

func (e *jsonAppender) optStr(k, s string) {
	if s != "" {
		e.key(k)
		e.str(s)
	}
}

func (e *jsonAppender) time(t time.Time) {
	raw, err := t.MarshalJSON()
	if err != nil {
		e.ok = false
		return
	}
	e.b = append(e.b, raw...)
}

func (e *jsonAppender) optInt(k string, v int64) {
	if v != 0 {
		e.key(k)
		e.b = strconv.AppendInt(e.b, v, 10)
	}
}

func (e *jsonAppender) optDuration(k string, d api.Duration) {
	if d != 0 {
		e.key(k)
		e.str(time.Duration(d).String())
	}
}

// register writes api.RegisterRequest's fields in their order, with
// their omitempty (and Check's omitzero) rules.
func (e *jsonAppender) register(r *api.RegisterRequest) {
	e.b = append(e.b, '{')
	e.optStr("id", r.ID)
	e.optStr("url", r.URL)
	e.optStr("scheme", r.Scheme)
	e.optStr("host", r.Host)
	e.optStr("ip", r.IP)
	e.optInt("port", int64(r.Port))
	e.optStr("path", r.Path)
	e.optStr("slug", r.Slug)
	e.optStr("deploymentId", r.DeploymentID)
	e.optStr("nodeUrl", r.NodeURL)
	if len(r.Tags) > 0 {
		e.key("tags")
		e.b = append(e.b, '[')
		for i, t := range r.Tags {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(t)
		}
		e.b = append(e.b, ']')
	}
	if len(r.Meta) > 0 {
		e.key("meta")
		e.b = append(e.b, '{')
		for i, k := range slices.Sorted(maps.Keys(r.Meta)) {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(k)
			e.b = append(e.b, ':')
			e.str(r.Meta[k])
		}
		e.b = append(e.b, '}')
	}
	e.optStr("status", string(r.Status))
	e.optStr("details", r.Details)
	if c := r.Check; c != nil {
		e.key("check")
		e.b = append(e.b, '{')
		e.key("type")
		e.str(string(c.Type))
		e.optStr("path", c.Path)
		e.optDuration("interval", c.Interval)
		e.optDuration("timeout", c.Timeout)
		e.optDuration("ttl", c.TTL)
		e.optInt("failuresBeforeUnhealthy", int64(c.FailuresBeforeUnhealthy))
		e.optInt("successesBeforeHealthy", int64(c.SuccessesBeforeHealthy))
		e.optDuration("deregisterAfter", c.DeregisterAfter)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, '}')
}
