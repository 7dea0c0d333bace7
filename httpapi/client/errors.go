package client

import (
	"errors"
	"fmt"

	"github.com/rosterhq/roster/api"
)

// Wire error codes: the "code" of every error body (package api holds them
// with their sentinel errors).
const (
	CodeInvalid          = api.CodeInvalid
	CodeNotFound         = api.CodeNotFound
	CodeConflict         = api.CodeConflict
	CodeTooLarge         = api.CodeTooLarge
	CodeNotLeader        = api.CodeNotLeader
	CodeNoLeader         = api.CodeNoLeader
	CodeIndeterminate    = api.CodeIndeterminate
	CodeTimeout          = api.CodeTimeout
	CodeShuttingDown     = api.CodeShuttingDown
	CodeCatchingUp       = api.CodeCatchingUp
	CodeUnauthorized     = api.CodeUnauthorized
	CodeForbidden        = api.CodeForbidden
	CodeInternal         = api.CodeInternal
	CodeNotImplemented   = api.CodeNotImplemented
	CodeNoInstance       = api.CodeNoInstance
	CodeBadGateway       = api.CodeBadGateway
	CodeOwnerUnreachable = api.CodeOwnerUnreachable
	CodeUnknownMember    = api.CodeUnknownMember
	CodeMemberAlive      = api.CodeMemberAlive
	CodeQuotaExceeded    = api.CodeQuotaExceeded
	CodeDiskFull         = api.CodeDiskFull
)

// ErrUnavailable matches (errors.Is) every answer that promises nothing
// was written and a later try may succeed: no_leader, not_leader, timeout,
// shutting_down, catching_up and owner_unreachable. Each of those also
// matches its own sentinel in api (api.ErrNoLeader, ...).
var ErrUnavailable = errors.New("registry unavailable: nothing was written; try again")

// ErrIndeterminate is api.ErrIndeterminate: the write may or may not have
// been applied.
var ErrIndeterminate = api.ErrIndeterminate

// ErrorBody is the JSON body of every error response.
type ErrorBody = api.ErrorBody

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

// Is makes an answer match ErrUnavailable when it promises that nothing
// was written.
func (e *APIError) Is(target error) bool {
	if target != ErrUnavailable {
		return false
	}
	switch e.Body.Code {
	case CodeNoLeader, CodeNotLeader, CodeTimeout, CodeShuttingDown, CodeOwnerUnreachable, CodeCatchingUp:
		return true
	}
	return false
}

// FromWire rebuilds the typed error a server sent (api.FromBody): an
// *api.Error for field errors, the code's sentinel for the others.
func FromWire(status int, body ErrorBody) *APIError {
	return &APIError{Status: status, Body: body, cause: api.FromBody(body)}
}
