package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// replicaStream serves a client agent's replica stream (between nodes: a
// node certificate with TLS). Refusals (not a server, behind the client)
// are answered as errors; once the stream has started, a failure ends it
// and the client moves to another server.
func (s *Server) replicaStream(c *gin.Context) {
	after, err := strconv.ParseUint(c.DefaultQuery("after", "0"), 10, 64)
	if err != nil {
		s.writeError(c, api.Invalid("after", "want the index the client has applied, a non-negative integer"))
		return
	}
	ctx, cancel := context.WithCancel(c.Request.Context())
	defer cancel()
	go func() {
		select {
		case <-s.done: // the agent is closing: end the stream
			cancel()
		case <-ctx.Done():
		}
	}()
	c.Header("Content-Type", "application/octet-stream")
	// The stream lasts as long as the client follows it: each write, not
	// the answer, gets the write timeout (a client that stops reading is
	// cut off after it).
	w := deadlineWriter{w: c.Writer, rc: http.NewResponseController(c.Writer), timeout: s.writeTimeout}
	err = s.n.ServeReplica(ctx, after, w, func() { c.Writer.Flush() })
	if err != nil && !c.Writer.Written() {
		c.Writer.Header().Del("Content-Type")
		s.writeError(c, err)
		return
	}
	if !c.Writer.Written() {
		c.Status(http.StatusOK)
	}
}

// deadlineWriter sets the write deadline before every write.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}
