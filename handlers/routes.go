package handlers

import (
	"log/slog"
	"net/http"
)

// addRoutes lists every route of the API.
func addRoutes(mux *http.ServeMux, logger *slog.Logger, store Store, queue Queue, cfg Config) {
	org := requireBearer(logger, cfg.OrganiserTokens)

	mux.Handle("POST /v1/meetings", org(handleCreateMeeting(logger, store, cfg)))
	mux.Handle("GET /v1/meetings", org(handleListMeetings(logger, store)))
	mux.Handle("GET /v1/meetings/{id}", org(handleGetMeeting(logger, store)))

	mux.Handle("POST /v1/meetings/{id}/registrations", handleRegister(logger, store, queue, cfg))

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(store))
}
