package handlers

import (
	"context"
	"net/http"
	"time"
)

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 200 while Redis answers, 503 otherwise.
func handleReadyz(store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			w.Header().Set("Retry-After", "5")
			encode(w, http.StatusServiceUnavailable, errorBody{Error: "redis is unreachable"})
			return
		}
		encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
