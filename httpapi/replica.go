package httpapi

import (
	"context"
	"net/http"
	"strconv"

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
	err = s.n.ServeReplica(ctx, after, s.perWrite(c), func() { c.Writer.Flush() })
	if err != nil && !c.Writer.Written() {
		c.Writer.Header().Del("Content-Type")
		s.writeError(c, err)
		return
	}
	if !c.Writer.Written() {
		c.Status(http.StatusOK)
	}
}
