package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-memdb"

	"github.com/rosterhq/roster/api"
)

// Blocking read limits, as Consul's: default and maximum wait.
const (
	defaultWait = 5 * time.Minute
	maxWait     = 10 * time.Minute
)

// readParams are the query parameters every read accepts.
var readParams = []string{"consistent", "index", "wait"}

// query reads the local replica; with a non-nil ws it registers what to
// watch for a change.
type query func(ws memdb.WatchSet) (index uint64, body any, err error)

// cached names a read's answer in the list cache: key identifies the
// filter, index returns the table's current index without reading it.
type cached struct {
	key   string
	index func() uint64
	// params is the request's query when the handler has parsed it (nil:
	// readCached parses it): a list's query is parsed once, not again for
	// the blocking and consistency parameters.
	params url.Values
}

// read serves a list: local by default, through the leader with a quorum
// check for ?consistent, and blocking for ?index=N[&wait=D].
func (s *Server) read(c *gin.Context, q query) { s.readCached(c, cached{}, q) }

// readCached is read with answers kept in the list cache while the table
// does not change.
func (s *Server) readCached(c *gin.Context, cc cached, q query) {
	params := cc.params
	if params == nil {
		params = c.Request.URL.Query()
	}
	minIndex, wait, err := blockingParams(params)
	if err != nil {
		s.writeError(c, err)
		return
	}
	consistent, err := boolParam(params, "consistent")
	if err != nil {
		s.writeError(c, err)
		return
	}
	if minIndex > 0 {
		// Also when the read is answered through the leader: this node
		// writes the answer once the wait there has ended.
		s.extendWriteDeadline(c, wait)
	} else {
		s.reads.add()
	}
	if !consistent {
		// A node that just restarted holds local reads until it has caught
		// up: X-Registry-Index and the catalog never go back in time on
		// one node.
		var err error
		if !s.n.CaughtUp() { // no timer for the usual case
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.road.Hold())
			err = s.n.WaitCaughtUp(ctx)
			cancel()
		}
		if err == nil {
			err = s.blockingRead(c, minIndex, wait, cc, q)
		}
		if err != nil {
			s.writeError(c, err)
		}
		return
	}
	if s.consistentOnFollower(c, minIndex, wait, cc, q) {
		return
	}
	c.Request.URL.RawQuery = normalizeConsistent(c)
	s.viaLeader(c, nil, true, func(context.Context) error {
		if err := s.n.VerifyLeader(c.Request.Context()); err != nil {
			return err
		}
		return s.blockingRead(c, minIndex, wait, cc, q)
	})
}

// normalizeConsistent makes a bare "?consistent" explicit so that gin's
// c.Query sees it on this node and on the leader after forwarding.
func normalizeConsistent(c *gin.Context) string {
	v := c.Request.URL.Query()
	v.Set("consistent", "true")
	return v.Encode()
}

func (s *Server) blockingRead(c *gin.Context, minIndex uint64, wait time.Duration, cc cached, q query) error {
	gen := s.n.FSM().AbandonCh()
	if cc.key != "" {
		index := cc.index()
		if body, ok := s.lists.get(gen, index, cc.key); ok && index > minIndex {
			writeList(c, index, body)
			return nil
		}
	}
	if minIndex > 0 {
		release, err := s.park()
		if err != nil {
			return err
		}
		defer release()
		// It may wait longer than a route's write deadline: its deadline
		// starts when the wait ends.
		s.extendWriteDeadline(c, wait)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), wait)
	defer cancel()
	for {
		ws := memdb.NewWatchSet()
		ws.Add(s.n.FSM().AbandonCh())
		index, body, err := q(ws)
		if err != nil {
			// A blocking read of a row that is absent (a key) waits for
			// it like any other change, and answers 404 at the end.
			if api.CodeOf(err) == api.CodeNotFound && minIndex > 0 && index <= minIndex && ws.WatchCtx(ctx) == nil {
				continue
			}
			setIndex(c, index)
			return err
		}
		if minIndex == 0 || index > minIndex || ws.WatchCtx(ctx) != nil {
			if c.Request.Context().Err() != nil {
				return nil // the client went away
			}
			if raw, ok := body.(rawValue); ok {
				setIndex(c, index)
				// A stored value is anyone's bytes: a browser must not
				// take it for a page.
				c.Header("X-Content-Type-Options", "nosniff")
				c.Data(http.StatusOK, "application/octet-stream", raw)
				return nil
			}
			encode := func() ([]byte, error) {
				if l, ok := body.(instanceList); ok {
					return l.marshal()
				}
				return json.Marshal(body)
			}
			var raw []byte
			if cc.key != "" {
				raw, err = s.lists.encode(gen, index, cc.key, encode)
			} else {
				raw, err = encode()
			}
			if err != nil {
				return err
			}
			writeList(c, index, raw)
			return nil
		}
	}
}

func writeList(c *gin.Context, index uint64, body []byte) {
	setIndex(c, index)
	writeJSON(c, http.StatusOK, body) // with its length: lists are often tens of KB
}

// parseIndex reads a Raft index a client gave in field.
func parseIndex(field, raw string) (uint64, error) {
	index, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, api.Invalid(field, "%q is not an index: a whole number from 0 to %d", raw, uint64(math.MaxUint64))
	}
	return index, nil
}

func blockingParams(q url.Values) (uint64, time.Duration, error) {
	raw := q.Get("index")
	if raw == "" {
		if q.Get("wait") != "" {
			return 0, 0, api.Invalid("wait", "needs index: a blocking read waits for a change past index")
		}
		return 0, defaultWait, nil
	}
	index, err := parseIndex("index", raw)
	if err != nil {
		return 0, 0, err
	}
	wait := defaultWait
	if w := q.Get("wait"); w != "" {
		if wait, err = parseWait(w); err != nil {
			return 0, 0, err
		}
	}
	// Jitter spreads the wake-ups of many watchers, as Consul does.
	wait += time.Duration(rand.Int64N(int64(wait/16) + 1))
	return index, wait, nil
}

func parseWait(w string) (time.Duration, error) {
	d, err := time.ParseDuration(w)
	if err != nil {
		secs, nerr := strconv.Atoi(w)
		if nerr != nil {
			return 0, api.Invalid("wait", "%q is not a duration like 30s or 5m", w)
		}
		d = time.Duration(secs) * time.Second
	}
	if d <= 0 || d > maxWait {
		return 0, api.Invalid("wait", "%s is out of range (0, %s]", d, maxWait)
	}
	return d, nil
}

// park takes one of the node's slots for blocking reads and streams: each
// holds a goroutine, a connection and, once woken, an answer, so their
// number is bounded (--max-blocking-reads; past it 429 with Retry-After).
func (s *Server) park() (release func(), err error) {
	select {
	case s.parked <- struct{}{}:
		return func() { <-s.parked }, nil
	default:
		return nil, api.ErrTooManyWatchers
	}
}
