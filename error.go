package convene

import (
	"errors"
	"fmt"
)

// Error codes. Transports map them to their own statuses (see handlers).
const (
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request clashes with the current state
	EUNAVAILABLE  = "unavailable"  // a dependency (Redis) cannot be reached; try again
	ETOOLARGE     = "too_large"    // the request body is too large
	EUNSUPPORTED  = "unsupported"  // the request's media type is not accepted
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	ETOOMANY      = "too_many"     // too many requests from one client or for one address
	ETIMEOUT      = "timeout"      // the request did not arrive in time
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is Convene's application error: a code that decides how a transport
// answers, a message safe to show to the caller, and the input field at fault
// when there is one.
type Error struct {
	Code    string
	Message string
	Field   string
	// Rule names the rule a field broke (RuleRequired, RuleTooLong,
	// RuleInvalid), for callers that word their own message, such as the
	// registration form in each language; empty when not set.
	Rule string
}

// Rules a field can break, as Error.Rule.
const (
	RuleRequired = "required" // the field is empty
	RuleTooLong  = "too_long" // the field is longer than its limit
	RuleInvalid  = "invalid"  // the field is malformed or not one of the choices
)

// fieldRuleErrorf is FieldErrorf with the rule the field broke.
func fieldRuleErrorf(field, rule, format string, args ...any) *Error {
	e := FieldErrorf(field, format, args...)
	e.Rule = rule
	return e
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for other errors so internals never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the input field named by the first *Error in err's
// chain, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrConcurrentUpdate means a meeting changed between the read and the
// write of an update: read it again and retry.
var ErrConcurrentUpdate = &Error{Code: ECONFLICT, Message: "the meeting changed meanwhile; try again"}
