package handlers_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"convene/handlers"
)

func TestProfilesNeedTheOpsToken(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := handlers.Profiling(slog.New(slog.NewJSONHandler(&logs, nil)), "ops-secret")
	get := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/ops/debug/pprof/goroutine?debug=1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer ops-secretx"} {
		if rec := get(auth); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("Authorization %q: %d %s, want 401 with a JSON error", auth, rec.Code, rec.Body)
		}
	}
	rec := get("Bearer ops-secret")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "goroutine profile") {
		t.Fatalf("with the ops token: %d %.200s", rec.Code, rec.Body)
	}
	if strings.Contains(logs.String(), "ops-secret") {
		t.Error("the ops token was logged")
	}
	// Without an ops token configured, nothing gets in.
	closed := handlers.Profiling(slog.New(slog.NewJSONHandler(&logs, nil)), "")
	req := httptest.NewRequest("GET", "/ops/debug/pprof/", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec = httptest.NewRecorder()
	closed.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("no OPS_TOKEN: %d, want 401", rec.Code)
	}
}
