package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// MaxHeaderBytes is what a request's headers may take. The HTTP server's
// own hard limit is set above it (ServerMaxHeaderBytes) so that a request
// between the two gets the JSON error every other refusal gets, not the
// server's plain-text 431.
const (
	MaxHeaderBytes       = 64 << 10
	ServerMaxHeaderBytes = 256 << 10
)

// limitHeaders answers 431 in the API's error shape for headers over
// MaxHeaderBytes.
func (s *Server) limitHeaders(c *gin.Context) {
	n := len(c.Request.Method) + len(c.Request.RequestURI) + len(c.Request.Host)
	for k, vs := range c.Request.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if n > MaxHeaderBytes {
		c.Header("Connection", "close")
		c.AbortWithStatusJSON(http.StatusRequestHeaderFieldsTooLarge, api.ErrorBody{Code: api.CodeTooLarge,
			Error: "the request line and headers take " + strconv.Itoa(n) + " bytes; the limit is " + strconv.Itoa(MaxHeaderBytes)})
	}
}

// writeDeadline gives every answer the write timeout: a client that stops
// reading cannot hold its connection and handler for good. Blocking reads
// extend theirs (extendWriteDeadline); the proxy lifts it.
func (s *Server) writeDeadline(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(s.writeTimeout))
}

// extendWriteDeadline moves the write deadline past a wait.
func (s *Server) extendWriteDeadline(c *gin.Context, wait time.Duration) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(wait + s.writeTimeout))
}

// liftWriteDeadline removes it, for proxied answers.
func liftWriteDeadline(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
}

// perWrite gives a stream's answer the write timeout per write rather than
// for the whole answer: a stream lasts as long as its reader follows it,
// and a reader that stops reading is cut off instead of holding the
// handler (change streams, client agents' replica streams).
func (s *Server) perWrite(c *gin.Context) deadlineWriter {
	return deadlineWriter{w: c.Writer, rc: http.NewResponseController(c.Writer), timeout: s.writeTimeout}
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
