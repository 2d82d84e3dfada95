package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"convene"
)

type requestIDKey struct{}

// requestInfo is what the request's log line says: its id, and what the
// handler added with annotate.
type requestInfo struct {
	id    string
	attrs []slog.Attr
}

func requestID(r *http.Request) string {
	if info, ok := r.Context().Value(requestIDKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// annotate adds attributes to the request's one log line, so that a
// request that changed something is logged once, with what it changed.
func annotate(r *http.Request, attrs ...slog.Attr) {
	if info, ok := r.Context().Value(requestIDKey{}).(*requestInfo); ok {
		info.attrs = append(info.attrs, attrs...)
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests gives every request an id (answered as X-Request-Id) and logs
// it once done: method, route pattern (never the raw path, which can hold
// tokens), status, duration, and what the handler annotated.
func logRequests(logger *slog.Logger, metrics Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		info := &requestInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, info))
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := time.Since(start)
		metrics.HTTP(r.Pattern, rec.status, took)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", r.Pattern),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("request_id", id),
		}, info.attrs...)...)
	})
}

// requireBearer returns middleware that lets a request through only with
// "Authorization: Bearer <token>" for one of tokens, compared in constant
// time. With no tokens configured every request is refused.
func requireBearer(logger *slog.Logger, tokens []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !bearerOK(r.Header.Get("Authorization"), tokens) {
				encodeError(w, r, logger, convene.Errorf(convene.EUNAUTHORIZED, "a valid organiser bearer token is required"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func bearerOK(header string, tokens []string) bool {
	scheme, given, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || given == "" {
		return false
	}
	match := 0
	for _, t := range tokens {
		// Compare with every token, so timing does not tell which matched.
		match |= subtle.ConstantTimeCompare([]byte(given), []byte(t))
	}
	return match == 1
}

// jsonFallback answers the requests no route takes (unknown path: 404,
// known path with another method: 405 with Allow) with a JSON error, like
// every other error of the API.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h, _ := mux.Handler(r)
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := probe.status
		if status == 0 || status == http.StatusOK {
			status = http.StatusNotFound
		}
		msg := "no such endpoint: " + r.Method + " " + r.URL.Path
		if status == http.StatusMethodNotAllowed {
			msg = "method " + r.Method + " is not allowed here"
		}
		encode(w, status, errorBody{Error: msg})
	})
}

// headerProbe captures the status and headers a handler would write.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }
