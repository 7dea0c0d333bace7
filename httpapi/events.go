package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// events is GET /registry-svc/events: the catalog's changes after ?index
// (default: from now), as Server-Sent Events or, with Accept:
// application/x-ndjson, one JSON object a line, from any node's replica.
// A reader that reconnects with the last index it saw misses nothing and
// sees nothing twice; one whose index the history no longer reaches gets
// 410 gone with the oldest it holds (X-Registry-Oldest), and lists again.
// A reader too slow for the history is sent a "gone" event and cut off:
// the history is a fixed ring, so a slow reader never grows memory.
// Filters: kind (instance, definition), slug, nodeUrl.
func (s *Server) events(c *gin.Context) {
	if err := checkQuery(c, "index", "kind", "slug", "nodeUrl"); err != nil {
		s.writeError(c, err)
		return
	}
	f, err := s.eventFilter(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
	err = s.n.WaitCaughtUp(ctx)
	cancel()
	if err != nil {
		s.writeError(c, err)
		return
	}
	last := s.n.FSM().AppliedIndex()
	if raw := c.Query("index"); raw != "" {
		if last, err = strconv.ParseUint(raw, 10, 64); err != nil {
			s.writeError(c, api.Invalid("index", "%q is not a non-negative integer", raw))
			return
		}
	}
	if _, complete, oldest, _ := s.n.FSM().EventsSince(last, 0); !complete {
		c.Header("X-Registry-Oldest", strconv.FormatUint(oldest, 10))
		s.writeError(c, &api.Error{Code: api.CodeGone, Field: "index", Message: fmt.Sprintf(
			"this node holds changes after index %d only; list again and follow from the list's X-Registry-Index", oldest)})
		return
	}
	// A stream holds a slot of the blocking reads' cap for its life.
	select {
	case s.parked <- struct{}{}:
		defer func() { <-s.parked }()
	default:
		s.writeError(c, api.ErrTooManyWatchers)
		return
	}
	ndjson := strings.Contains(c.GetHeader("Accept"), "application/x-ndjson")
	if ndjson {
		c.Header("Content-Type", "application/x-ndjson")
	} else {
		c.Header("Content-Type", "text/event-stream")
	}
	c.Header("Cache-Control", "no-cache")
	c.Header("X-Accel-Buffering", "no")
	setIndex(c, last)
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	// Each write must be taken within the write timeout: a reader that
	// stops reading is cut off instead of holding the handler.
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		if _, err := c.Writer.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(nil) {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		evs, complete, oldest, wake := s.n.FSM().EventsSince(last, 256)
		if !complete {
			write(eventFrame(ndjson, "gone", last, gin.H{"code": api.CodeGone, "oldest": oldest,
				"error": "this reader fell behind the node's history; list again and follow from the list's index"}))
			return
		}
		var out []byte
		for i := range evs {
			e := &evs[i]
			last = e.Index
			if f.match(e) {
				out = append(out, eventFrame(ndjson, e.Kind, e.Index, e)...)
			}
		}
		if len(out) > 0 && !write(out) {
			return
		}
		if len(evs) == 256 {
			continue
		}
		select {
		case <-wake:
		case <-keepAlive.C:
			frame := []byte(": keep-alive\n\n")
			if ndjson {
				frame = []byte("\n")
			}
			if !write(frame) {
				return
			}
		case <-c.Request.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// eventFrame is one change as an SSE event or an NDJSON line.
func eventFrame(ndjson bool, kind string, index uint64, v any) []byte {
	b, _ := json.Marshal(v)
	if ndjson {
		return append(b, '\n')
	}
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", index, kind, b)
}

type eventFilter struct {
	kind, slug, nodeURL string
	definitions         bool // the token may see definitions
}

func (s *Server) eventFilter(c *gin.Context) (eventFilter, error) {
	f := eventFilter{kind: c.Query("kind"), slug: c.Query("slug"), nodeURL: c.Query("nodeUrl"), definitions: true}
	if f.kind != "" && f.kind != api.EventInstance && f.kind != api.EventDefinition {
		return f, api.Invalid("kind", "%q is not instance or definition", f.kind)
	}
	if tok := tokenOf(c); tok != nil {
		f.definitions = tok.Has(api.PermDefinitionView)
		if f.kind == api.EventDefinition && !f.definitions {
			return f, api.Denied(api.PermDefinitionView, "following definitions takes %s", api.PermDefinitionView)
		}
	}
	if scope := viewScope(c); scope != "" {
		if f.slug != "" && f.slug != scope {
			return f, api.Denied(api.PermInstanceViewAll, "the token is bound to slug %q; seeing other slugs takes %s", scope, api.PermInstanceViewAll)
		}
		f.slug = scope
		f.definitions = false // a slug's token follows its instances
	}
	return f, nil
}

func (f eventFilter) match(e *api.Event) bool {
	if f.kind != "" && e.Kind != f.kind {
		return false
	}
	if e.Kind == api.EventDefinition {
		return f.definitions && f.slug == "" && f.nodeURL == ""
	}
	in := e.Instance
	return in != nil && (f.slug == "" || in.Slug == f.slug) && (f.nodeURL == "" || in.NodeURL == f.nodeURL)
}
