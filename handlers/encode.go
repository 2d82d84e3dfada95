package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"convene"
)

// statusOf maps convene error codes to HTTP statuses, in one place.
var statusOf = map[string]int{
	convene.EINVALID:      http.StatusBadRequest,
	convene.EUNAUTHORIZED: http.StatusUnauthorized,
	convene.ETOOMANY:      http.StatusTooManyRequests,
	convene.ENOTFOUND:     http.StatusNotFound,
	convene.ECONFLICT:     http.StatusConflict,
	convene.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	convene.ETIMEOUT:      http.StatusRequestTimeout,
	convene.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	convene.EUNAVAILABLE:  http.StatusServiceUnavailable,
	convene.EINTERNAL:     http.StatusInternalServerError,
}

// statusClientClosed is the conventional status of a request whose client
// went away before the answer (nginx's 499).
const statusClientClosed = 499

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// encodeError answers err as JSON with the status of its code. Internal
// errors are logged and answered with a generic message.
func encodeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The client gave up: nobody reads this answer. Record it as 499
		// (client closed request), not as a server error.
		w.WriteHeader(statusClientClosed)
		return
	}
	code := convene.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	switch code {
	case convene.EINTERNAL:
		logger.Error("request failed", "error", err.Error(), "method", r.Method, "route", r.Pattern, "request_id", requestID(r))
	case convene.EUNAVAILABLE:
		logger.Warn("storage unavailable", "error", err.Error(), "route", r.Pattern, "request_id", requestID(r))
		w.Header().Set("Retry-After", "5")
	case convene.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="convene"`)
	case convene.ETOOMANY:
		setRetryAfter(w, err)
	}
	encode(w, status, errorBody{Error: convene.ErrorMessage(err), Field: convene.ErrorField(err)})
}

// decode reads a JSON request body into v: application/json only, at most
// MaxBodyBytes, no unknown fields, exactly one value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return convene.Errorf(convene.EUNSUPPORTED, "Content-Type must be application/json")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err)
		}
		return convene.Errorf(convene.EINVALID, "request body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
	)
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return convene.Errorf(convene.ETOOLARGE, "request body must be at most %d bytes", MaxBodyBytes)
	case errors.As(err, &netErr) && netErr.Timeout():
		// The server's read timeout cut a body that came too slowly.
		return convene.Errorf(convene.ETIMEOUT, "the request body did not arrive in time")
	case errors.As(err, &syntax):
		return convene.Errorf(convene.EINVALID, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return convene.Errorf(convene.EINVALID, "request body must be a JSON object")
		}
		return convene.FieldErrorf(field, "must be a %s", jsonType(typeErr.Type.String()))
	case errors.Is(err, io.EOF):
		return convene.Errorf(convene.EINVALID, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return convene.Errorf(convene.EINVALID, "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return convene.FieldErrorf(name, "unknown field %q", name)
	}
	return convene.Errorf(convene.EINVALID, "malformed JSON: %v", err)
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "whole number"
	case strings.Contains(goType, "[]"):
		return "list"
	case strings.Contains(goType, "string"):
		return "string"
	}
	return fmt.Sprintf("value of type %s", goType)
}
