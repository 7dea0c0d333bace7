package api

import (
	"errors"
	"fmt"
)

// Code classifies an error so the HTTP layer can map it to a status code with
// one table, and a client can rebuild the same error from the wire.
type Code string

// The error codes of the catalog. They are part of the wire format.
const (
	CodeInvalid  Code = "invalid"   // the request is malformed: 400
	CodeNotFound Code = "not_found" // the addressed row does not exist: 404
	CodeConflict Code = "conflict"  // the request contradicts stored state: 409
)

// Error is a typed catalog error. Field names the offending input field where
// there is one, so a user learns what to fix.
type Error struct {
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Is makes errors.Is(err, ErrForbidden) (and the other sentinels) true
// for an *Error of the sentinel's code.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.code == e.Code
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalid reports a bad input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing row.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a request that clashes with what is stored.
func Conflict(field, format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err if it is (or wraps) an *Error or a
// sentinel, else "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var s *sentinel
	if errors.As(err, &s) {
		return s.code
	}
	return ""
}

// UnknownMember reports a node URL or ID that no member has.
func UnknownMember(format string, args ...any) *Error {
	return &Error{Code: CodeUnknownMember, Field: "url", Message: fmt.Sprintf(format, args...)}
}

// MemberAlive refuses to remove a node that is alive.
func MemberAlive(format string, args ...any) *Error {
	return &Error{Code: CodeMemberAlive, Field: "url", Message: fmt.Sprintf(format, args...)}
}

// Codes beyond the catalog's: the "code" of every error body. Membership
// errors have their own rather than borrowing the catalog's not_found and
// conflict.
const (
	CodeTooLarge         Code = "too_large"
	CodeNotLeader        Code = "not_leader"
	CodeNoLeader         Code = "no_leader"
	CodeIndeterminate    Code = "indeterminate"
	CodeTimeout          Code = "timeout"
	CodeShuttingDown     Code = "shutting_down"
	CodeCatchingUp       Code = "catching_up"
	CodeUnauthorized     Code = "unauthorized"
	CodeForbidden        Code = "forbidden"
	CodeInternal         Code = "internal"
	CodeNotImplemented   Code = "not_implemented"
	CodeNoInstance       Code = "no_instance"       // a proxied request found no usable instance
	CodeBadGateway       Code = "bad_gateway"       // the chosen instance failed
	CodeOwnerUnreachable Code = "owner_unreachable" // a heartbeat could not reach its checker
	CodeUnknownMember    Code = "unknown_member"    // no node has that URL or ID
	CodeMemberAlive      Code = "member_alive"      // the node is alive: make it leave first
	CodeLoopDetected     Code = "loop_detected"     // a proxied request came back to a node it had passed
	CodeBusy             Code = "busy"              // a slug has as many proxied requests in flight as allowed
	CodeTooManyWatchers  Code = "too_many_watchers" // the node holds as many blocking reads as allowed
)

// Sentinel errors, one per code that carries no field. errors.Is works on
// them on both sides of the wire: the server maps each to its code, and the
// client's error for an answer unwraps to the same sentinel.
var (
	// ErrNotLeader: this node cannot apply writes; nothing was written.
	ErrNotLeader = &sentinel{CodeNotLeader, "this node is not the Raft leader"}
	// ErrNoLeader: no leader could take the request in time; nothing was
	// written, so trying again later is safe.
	ErrNoLeader = &sentinel{CodeNoLeader, "the cluster has no leader"}
	// ErrIndeterminate: the leader was lost after the write was sent; it
	// may or may not have been applied.
	ErrIndeterminate = &sentinel{CodeIndeterminate, "leadership lost while writing; the write may or may not have been applied"}
	// ErrTimeout: the write could not be queued in time; nothing was written.
	ErrTimeout = &sentinel{CodeTimeout, "timed out queueing the write"}
	// ErrShuttingDown: the node is shutting down.
	ErrShuttingDown = &sentinel{CodeShuttingDown, "the node is shutting down"}
	// ErrCatchingUp: the node has not applied the log far enough to answer.
	ErrCatchingUp = &sentinel{CodeCatchingUp, "this node is still catching up with the cluster's log; try again or read from another node"}
	// ErrTooLarge: the request body is over the limit.
	ErrTooLarge = &sentinel{CodeTooLarge, "request body is larger than 1 MiB"}
	// ErrUnauthorized and ErrForbidden: authentication or permission failed.
	ErrUnauthorized = &sentinel{CodeUnauthorized, "unauthorized"}
	ErrForbidden    = &sentinel{CodeForbidden, "forbidden"}
	// ErrInternal: the server failed; the detail is in its log only.
	ErrInternal = &sentinel{CodeInternal, "internal error"}
	// ErrNotImplemented: this agent does not offer the operation.
	ErrNotImplemented = &sentinel{CodeNotImplemented, "not implemented by this agent"}
	// ErrNoInstance: a proxied request found no usable instance.
	ErrNoInstance = &sentinel{CodeNoInstance, "no usable instance of this service (none Healthy or Unknown)"}
	// ErrBadGateway: the instance chosen for a proxied request failed.
	ErrBadGateway = &sentinel{CodeBadGateway, "the instance could not be reached"}
	// ErrOwnerUnreachable: the node that checks an instance could not be
	// reached to hand it a heartbeat.
	ErrOwnerUnreachable = &sentinel{CodeOwnerUnreachable, "the node that checks this instance could not be reached; try again or another node"}
	// ErrLoopDetected: a proxied request reached a node it had already
	// passed (an instance whose URL leads back to the cluster).
	ErrLoopDetected = &sentinel{CodeLoopDetected, "the proxied request came back to a node it had already passed: an instance's URL leads back to the cluster"}
	// ErrBusy: too many proxied requests to one slug are in flight here.
	ErrBusy = &sentinel{CodeBusy, "too many requests to this service are in flight on this node; try again"}
	// ErrTooManyWatchers: this node holds as many blocking reads as it
	// allows; try again later or on another node.
	ErrTooManyWatchers = &sentinel{CodeTooManyWatchers, "this node holds as many blocking reads as it allows (--max-blocking-reads); try again later or on another node"}
)

// sentinel is an error that is its code.
type sentinel struct {
	code Code
	msg  string
}

func (s *sentinel) Error() string { return s.msg }

// Sentinels lists every sentinel, for the tables that map codes.
var Sentinels = []error{ErrNotLeader, ErrNoLeader, ErrIndeterminate, ErrTimeout, ErrShuttingDown, ErrCatchingUp,
	ErrTooLarge, ErrUnauthorized, ErrForbidden, ErrInternal, ErrNotImplemented, ErrNoInstance, ErrBadGateway, ErrOwnerUnreachable,
	ErrLoopDetected, ErrBusy, ErrTooManyWatchers}

// SentinelOf returns the sentinel of a code, or nil for the codes that are
// *Error values (invalid, not_found, conflict and the membership codes) or
// unknown.
func SentinelOf(code Code) error {
	for _, e := range Sentinels {
		if e.(*sentinel).code == code {
			return e
		}
	}
	return nil
}

// NothingWritten reports whether an error promises that a write was not
// applied, so sending it again is safe (no leader, not the leader, a
// timeout queueing it, a node shutting down or catching up).
func NothingWritten(err error) bool {
	for _, e := range []error{ErrNotLeader, ErrNoLeader, ErrTimeout, ErrShuttingDown, ErrCatchingUp} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  Code   `json:"code,omitempty"`
	Field string `json:"field,omitempty"`
}

// FromBody rebuilds the error an error body describes: an *Error (with its
// field) for the catalog's and membership codes, the code's sentinel for the
// others, nil for an unknown code. Both sides then compare with errors.Is
// and errors.As, never on text.
func FromBody(body ErrorBody) error {
	switch body.Code {
	case CodeInvalid, CodeNotFound, CodeConflict, CodeUnknownMember, CodeMemberAlive, CodeUnauthorized, CodeForbidden, CodeQuotaExceeded, CodeDiskFull, CodeGone:
		msg := body.Error
		if body.Field != "" && len(msg) > len(body.Field)+2 && msg[:len(body.Field)+2] == body.Field+": " {
			msg = msg[len(body.Field)+2:]
		}
		return &Error{Code: body.Code, Field: body.Field, Message: msg}
	}
	return SentinelOf(body.Code)
}
