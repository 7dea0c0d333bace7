package client

import (
	"errors"
	"fmt"

	"github.com/rosterhq/roster/fsm"
)

// Wire error codes: the "code" of every error body. The server's error
// table produces them and FromWire turns them back into typed errors.
const (
	CodeInvalid        = string(fsm.CodeInvalid)
	CodeNotFound       = string(fsm.CodeNotFound)
	CodeConflict       = string(fsm.CodeConflict)
	CodeTooLarge       = "too_large"
	CodeNotLeader      = "not_leader"
	CodeNoLeader       = "no_leader"
	CodeIndeterminate  = "indeterminate"
	CodeTimeout        = "timeout"
	CodeShuttingDown   = "shutting_down"
	CodeCatchingUp     = "catching_up"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeInternal       = "internal"
	CodeNotImplemented = "not_implemented"
	// CodeNoInstance and CodeBadGateway answer proxied requests
	// (/{slug}/...): no usable instance, or the chosen one failed.
	CodeNoInstance = "no_instance"
	CodeBadGateway = "bad_gateway"
	// CodeOwnerUnreachable: a heartbeat could not be handed to the node
	// that checks the instance.
	CodeOwnerUnreachable = "owner_unreachable"
)

// Errors a client can test for with errors.Is, besides *fsm.Error for
// invalid, not found and conflict.
var (
	// ErrUnavailable: no leader could take the write; nothing was written,
	// so retrying later is safe.
	ErrUnavailable = errors.New("registry unavailable: no leader")
	// ErrIndeterminate: the write may or may not have been applied.
	ErrIndeterminate = errors.New("write outcome unknown")
	// ErrUnauthorized and ErrForbidden: authentication or permission failed.
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	// ErrNoInstance: a proxied request found no usable instance.
	ErrNoInstance = errors.New("no usable instance")
)

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
	Field string `json:"field,omitempty"`
}

// APIError is an HTTP error answer from a node.
type APIError struct {
	Status int
	Body   ErrorBody
	cause  error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Body.Error, e.Status)
}

// Unwrap gives the typed error behind the answer, so errors.Is and
// errors.As work on what the server meant rather than on text.
func (e *APIError) Unwrap() error { return e.cause }

// FromWire rebuilds the typed error a server sent.
func FromWire(status int, body ErrorBody) *APIError {
	e := &APIError{Status: status, Body: body}
	switch body.Code {
	case CodeInvalid, CodeNotFound, CodeConflict:
		msg := body.Error
		if body.Field != "" && len(msg) > len(body.Field)+2 && msg[:len(body.Field)+2] == body.Field+": " {
			msg = msg[len(body.Field)+2:]
		}
		e.cause = &fsm.Error{Code: fsm.Code(body.Code), Field: body.Field, Message: msg}
	case CodeNoLeader, CodeNotLeader, CodeTimeout, CodeShuttingDown, CodeOwnerUnreachable, CodeCatchingUp:
		e.cause = ErrUnavailable
	case CodeIndeterminate:
		e.cause = ErrIndeterminate
	case CodeUnauthorized:
		e.cause = ErrUnauthorized
	case CodeForbidden:
		e.cause = ErrForbidden
	case CodeNoInstance:
		e.cause = ErrNoInstance
	}
	return e
}
