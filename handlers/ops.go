package handlers

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"convene"
)

// Metrics is what the handlers report; *metrics.Metrics.
type Metrics interface {
	HTTP(route string, status int, d time.Duration)
	Registration(outcome string)
}

type noMetrics struct{}

func (noMetrics) HTTP(string, int, time.Duration) {}
func (noMetrics) Registration(string)             {}

// requireOps lets a request through with OPS_TOKEN as a bearer token, or
// as the password of HTTP basic auth (so a browser can log in to the queue
// UI), compared in constant time. Without an OPS_TOKEN nothing gets in.
func requireOps(logger *slog.Logger, token string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if token != "" && opsAuthOK(r, token) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="Convene ops", charset="UTF-8"`)
			encode(w, http.StatusUnauthorized, errorBody{Error: "the ops token is required (bearer token, or the password of basic auth)"})
			logger.Info("ops access refused", "route", r.Pattern, "request_id", requestID(r))
		})
	}
}

func opsAuthOK(r *http.Request, token string) bool {
	if _, pass, ok := r.BasicAuth(); ok {
		return subtle.ConstantTimeCompare([]byte(pass), []byte(token)) == 1
	}
	scheme, given, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(given), []byte(token)) == 1
}

// handleOpsQueues answers GET /v1/ops/queues: per queue its size, tasks by
// state, today's processed and failed counts, and latency.
func handleOpsQueues(logger *slog.Logger, stats func(context.Context) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stats == nil {
			encodeError(w, r, logger, convene.Errorf(convene.EUNAVAILABLE, "queue statistics are not available"))
			return
		}
		qs, err := stats(r.Context())
		if err != nil {
			encodeError(w, r, logger, convene.Errorf(convene.EUNAVAILABLE, "cannot read the queues: %v", err))
			return
		}
		encode(w, http.StatusOK, map[string]any{"queues": qs})
	})
}

// Profiling serves Go's runtime profiles (net/http/pprof) under
// /ops/debug/pprof/, behind the ops token like the rest of /ops. Every
// process serves it: the web process on PORT, the worker and scheduler on
// METRICS_PORT. For example, 30 s of CPU of a web process:
//
//	go tool pprof -http :8081 "http://:$OPS_TOKEN@localhost:8080/ops/debug/pprof/profile?seconds=30"
func Profiling(logger *slog.Logger, opsToken string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return requireOps(logger, opsToken)(http.StripPrefix("/ops", mux))
}
