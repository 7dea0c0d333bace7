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
	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// events is GET /registry-svc/events: the catalog's changes after ?index
// (default: from now), as Server-Sent Events or, with Accept:
// application/x-ndjson, one JSON object a line, from any node's replica.
// A reader that reconnects with the last index it saw misses nothing and
// sees nothing twice; one whose index the history no longer reaches gets
// 410 gone with the oldest it holds (X-Registry-Oldest), and lists again.
// A reader too slow for the history is sent a "gone" event and cut off:
// the history is a fixed ring, so a slow reader never grows memory.
// Filters: kind (a comma-separated list of instance, definition and node;
// default instance,definition), slug (instances), nodeUrl (instances and
// nodes). A browser's EventSource resumes with Last-Event-ID, taken when
// ?index is absent.
//
// Node changes come from gossip, not the log: a stream asking for them
// first gets every node's row, then each row again when it changes (with
// the version of this node's view at which it did, see node/nodefeed.go),
// and a delete when a node is forgotten. Their SSE id is the catalog index
// the stream has reached, so resuming from it stays exact for the catalog;
// a slow reader of nodes gets the newest rows, never a backlog.
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
	field, raw := "index", c.Query("index")
	if raw == "" {
		field, raw = "Last-Event-ID", c.GetHeader("Last-Event-ID")
	}
	if raw != "" {
		if last, err = parseIndex(field, raw); err != nil {
			s.writeError(c, err)
			return
		}
	}
	if _, complete, oldest, _ := s.n.FSM().EventsSince(last, 0); !complete && f.slug != "" && s.n.FSM().InstancesIndexOf(f.slug) <= last {
		// A stream of one slug resumes from that slug's list index, which
		// stays old while other slugs change: the slug has not changed
		// since, so the history from its oldest change misses nothing.
		last = oldest
	} else if !complete {
		c.Header("X-Registry-Oldest", strconv.FormatUint(oldest, 10))
		s.writeError(c, &api.Error{Code: api.CodeGone, Field: "index", Message: fmt.Sprintf(
			"this node holds changes after index %d only; list again and follow from the list's X-Registry-Index", oldest)})
		return
	}
	// A stream holds a slot of the blocking reads' cap for its life.
	release, err := s.park()
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer release()
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
	w := s.perWrite(c)
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		return w.rc.Flush() == nil
	}
	if !write(nil) {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	var nodes nodeStream
	var nodesChanged <-chan struct{}
	if f.nodes {
		nodes.sent = map[string]bool{}
		nodesChanged = closed
	}
	// A stream of nodes alone does not read (or wake for) the catalog's
	// changes; its frames carry the index the replica has applied.
	catalog := f.instances || f.definitions
	for {
		var evs []*fsm.Change
		var wake <-chan struct{}
		if catalog {
			var complete bool
			var oldest uint64
			evs, complete, oldest, wake = s.n.FSM().EventsSince(last, 256)
			if !complete {
				write(eventFrame(ndjson, "gone", last, gin.H{"code": api.CodeGone, "oldest": oldest,
					"error": "this reader fell behind the node's history; list again and follow from the list's index"}))
				return
			}
		} else {
			last = max(last, s.n.FSM().AppliedIndex())
		}
		var out []byte
		for _, e := range evs {
			last = e.Index
			if f.match(&e.Event) {
				out = appendFrame(out, ndjson, e.Kind, e.Index, e.JSON())
			}
		}
		select {
		case <-nodesChanged:
			var frames []byte
			frames, nodesChanged = nodes.next(s.n.NodeView(false), f, ndjson, last)
			out = append(out, frames...)
		default:
		}
		if len(out) > 0 && !write(out) {
			return
		}
		if len(evs) == 256 {
			continue
		}
		select {
		case <-wake:
		case <-nodesChanged:
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

// closed is a channel that is always ready: the first round of a stream
// of nodes sends every row.
var closed = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// nodeStream is what one stream has sent of the nodes: the view sequence
// it has reached and the nodes it has shown (to tell their removal).
type nodeStream struct {
	seq  uint64
	sent map[string]bool
}

// next returns the frames for the rows that changed since the last call
// and the channel of the view's next change.
func (ns *nodeStream) next(v node.NodeView, f eventFilter, ndjson bool, index uint64) ([]byte, <-chan struct{}) {
	var out []byte
	here := make(map[string]bool, len(v.Nodes))
	for i := range v.Nodes {
		st := &v.Nodes[i]
		if f.nodeURL != "" && st.Row.URL != f.nodeURL {
			continue
		}
		here[st.Row.ID] = true
		if st.Version > ns.seq || !ns.sent[st.Row.ID] {
			e := client.Event{Event: api.Event{Index: index, Kind: client.EventNode, Op: api.EventUpsert, ID: st.Row.ID},
				Version: st.Version, Node: &st.Row}
			out = append(out, eventFrame(ndjson, client.EventNode, index, e)...)
		}
	}
	for id := range ns.sent {
		if !here[id] {
			e := client.Event{Event: api.Event{Index: index, Kind: client.EventNode, Op: api.EventDelete, ID: id}, Version: v.Seq}
			out = append(out, eventFrame(ndjson, client.EventNode, index, e)...)
		}
	}
	ns.seq, ns.sent = v.Seq, here
	return out, v.Changed
}

// eventFrame is one change as an SSE event or an NDJSON line.
func eventFrame(ndjson bool, kind string, index uint64, v any) []byte {
	b, _ := json.Marshal(v)
	return appendFrame(nil, ndjson, kind, index, b)
}

// appendFrame appends an encoded change as an SSE event or an NDJSON line.
func appendFrame(out []byte, ndjson bool, kind string, index uint64, b []byte) []byte {
	if ndjson {
		return append(append(out, b...), '\n')
	}
	out = append(out, "id: "...)
	out = strconv.AppendUint(out, index, 10)
	out = append(append(append(out, "\nevent: "...), kind...), "\ndata: "...)
	return append(append(out, b...), "\n\n"...)
}

type eventFilter struct {
	instances, definitions, nodes bool
	slug, nodeURL                 string
}

func (s *Server) eventFilter(c *gin.Context) (eventFilter, error) {
	f := eventFilter{slug: c.Query("slug"), nodeURL: c.Query("nodeUrl")}
	kinds := c.Query("kind")
	explicit := kinds != ""
	if !explicit {
		kinds = api.EventInstance + "," + api.EventDefinition
	}
	for _, k := range strings.Split(kinds, ",") {
		switch strings.TrimSpace(k) {
		case api.EventInstance:
			f.instances = true
		case api.EventDefinition:
			f.definitions = true
		case client.EventNode:
			f.nodes = true
		default:
			return f, api.Invalid("kind", "%q is not instance, definition or node", k)
		}
	}
	tok := tokenOf(c)
	if tok != nil && f.definitions && !tok.Has(api.PermDefinitionView) {
		if explicit {
			return f, api.Denied(api.PermDefinitionView, "following definitions takes %s", api.PermDefinitionView)
		}
		f.definitions = false
	}
	if tok != nil && f.nodes && !tok.Has(api.PermNodeView) {
		return f, api.Denied(api.PermNodeView, "following nodes takes %s", api.PermNodeView)
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
	if e.Kind == api.EventDefinition {
		return f.definitions && f.slug == "" && f.nodeURL == ""
	}
	in := e.Instance
	return f.instances && in != nil && (f.slug == "" || in.Slug == f.slug) && (f.nodeURL == "" || in.NodeURL == f.nodeURL)
}
