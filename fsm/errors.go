package fsm

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

// CodeOf returns the code of err if it is (or wraps) an *Error, else "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
