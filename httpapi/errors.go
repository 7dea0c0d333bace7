package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/fsm"
	"github.com/rosterhq/roster/httpapi/client"
	"github.com/rosterhq/roster/node"
)

// errTooLarge is a body over the size limit.
var errTooLarge = errors.New("request body is larger than 1 MiB")

// errorTable is the one place that maps engine errors to HTTP answers; the
// client's FromWire maps the codes back (see errors_test.go).
var errorTable = []struct {
	err        error
	status     int
	code       string
	retryAfter bool
}{
	{node.ErrNotLeader, http.StatusServiceUnavailable, client.CodeNotLeader, true},
	{node.ErrNoLeader, http.StatusServiceUnavailable, client.CodeNoLeader, true},
	{node.ErrLeadershipLost, http.StatusServiceUnavailable, client.CodeIndeterminate, true},
	{node.ErrTimeout, http.StatusServiceUnavailable, client.CodeTimeout, true},
	{node.ErrShutdown, http.StatusServiceUnavailable, client.CodeShuttingDown, true},
	{node.ErrCatchingUp, http.StatusServiceUnavailable, client.CodeCatchingUp, true},
	{errTooLarge, http.StatusRequestEntityTooLarge, client.CodeTooLarge, false},
	{errNoInstance, http.StatusServiceUnavailable, client.CodeNoInstance, true},
	{errBadGateway, http.StatusBadGateway, client.CodeBadGateway, false},
	{errOwnerUnreachable, http.StatusServiceUnavailable, client.CodeOwnerUnreachable, true},
}

var fsmStatus = map[fsm.Code]int{
	fsm.CodeInvalid:  http.StatusBadRequest,
	fsm.CodeNotFound: http.StatusNotFound,
	fsm.CodeConflict: http.StatusConflict,
}

// toWire turns an error into a status and body; unknown errors become a
// generic 500 whose detail goes only to the log.
func toWire(err error) (int, client.ErrorBody, bool) {
	var fe *fsm.Error
	if errors.As(err, &fe) {
		return fsmStatus[fe.Code], client.ErrorBody{Error: fe.Error(), Code: string(fe.Code), Field: fe.Field}, false
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.status, client.ErrorBody{Error: row.err.Error(), Code: row.code}, row.retryAfter
		}
	}
	return http.StatusInternalServerError, client.ErrorBody{Error: "internal error", Code: client.CodeInternal}, false
}

func (s *Server) writeError(c *gin.Context, err error) {
	status, body, retry := toWire(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	} else if status >= 500 {
		s.log.Debug("request unavailable", "path", c.Request.URL.Path, "err", err)
	}
	if retry {
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, body)
}

func logAttrs(c *gin.Context) []any {
	return []any{slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path)}
}
