package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rosterhq/roster/api"
)

// Errors of this layer, each with its code in package api.
var (
	errTooLarge         = api.ErrTooLarge
	errOwnerUnreachable = api.ErrOwnerUnreachable
	errNoInstance       = api.ErrNoInstance
	errBadGateway       = api.ErrBadGateway
)

// statusOf is the one table from error codes to HTTP statuses; the client's
// FromWire turns each code back into the same error (errors_test.go).
var statusOf = map[api.Code]int{
	api.CodeInvalid:          http.StatusBadRequest,
	api.CodeNotFound:         http.StatusNotFound,
	api.CodeConflict:         http.StatusConflict,
	api.CodeUnknownMember:    http.StatusNotFound,
	api.CodeMemberAlive:      http.StatusConflict,
	api.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	api.CodeNotLeader:        http.StatusServiceUnavailable,
	api.CodeNoLeader:         http.StatusServiceUnavailable,
	api.CodeIndeterminate:    http.StatusServiceUnavailable,
	api.CodeTimeout:          http.StatusServiceUnavailable,
	api.CodeShuttingDown:     http.StatusServiceUnavailable,
	api.CodeCatchingUp:       http.StatusServiceUnavailable,
	api.CodeNoInstance:       http.StatusServiceUnavailable,
	api.CodeOwnerUnreachable: http.StatusServiceUnavailable,
	api.CodeBadGateway:       http.StatusBadGateway,
	api.CodeLoopDetected:     http.StatusLoopDetected,
	api.CodeBusy:             http.StatusServiceUnavailable,
	api.CodeTooManyWatchers:  http.StatusTooManyRequests,
	api.CodeUnauthorized:     http.StatusUnauthorized,
	api.CodeForbidden:        http.StatusForbidden,
	api.CodeQuotaExceeded:    http.StatusInsufficientStorage,
	api.CodeDiskFull:         http.StatusInsufficientStorage,
	api.CodeGone:             http.StatusGone,
	api.CodeNotImplemented:   http.StatusNotImplemented,
	api.CodeInternal:         http.StatusInternalServerError,
}

// toWire turns an error into a status and body, and whether to send
// Retry-After (every 503). Errors without a code become a generic 500 whose
// detail goes only to the log.
func toWire(err error) (int, api.ErrorBody, bool) {
	code := api.CodeOf(err)
	status, known := statusOf[code]
	if !known {
		return http.StatusInternalServerError, api.ErrorBody{Error: api.ErrInternal.Error(), Code: api.CodeInternal}, false
	}
	body := api.ErrorBody{Code: code}
	var fe *api.Error
	if errors.As(err, &fe) {
		body.Error, body.Field = fe.Error(), fe.Field
	} else {
		body.Error = api.SentinelOf(code).Error()
	}
	return status, body, status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
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
