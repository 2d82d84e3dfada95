package handlers

import (
	"log/slog"
	"net/http"

	"convene/templates"
)

// addRoutes lists every route of the API.
func addRoutes(mux *http.ServeMux, logger *slog.Logger, store Store, queue Queue, cfg Config) {
	org := requireBearer(logger, cfg.OrganiserTokens)

	// Organiser API.
	mux.Handle("POST /v1/meetings", org(handleCreateMeeting(logger, store, queue, cfg)))
	mux.Handle("GET /v1/meetings", org(handleListMeetings(logger, store)))
	mux.Handle("GET /v1/meetings/{id}", org(handleGetMeeting(logger, store)))
	mux.Handle("PATCH /v1/meetings/{id}", org(handleUpdateMeeting(logger, store, queue, cfg)))
	mux.Handle("POST /v1/meetings/{id}/cancel", org(handleCancelMeeting(logger, store, queue, cfg)))
	mux.Handle("GET /v1/meetings/{id}/registrations", org(handleListRegistrations(logger, store)))
	mux.Handle("DELETE /v1/meetings/{id}/registrations/{registration_id}", org(handleErase(logger, store, queue, cfg)))
	mux.Handle("POST /v1/meetings/{id}/reminders", org(handleAddReminder(logger, store, queue, cfg)))
	mux.Handle("GET /v1/meetings/{id}/reminders", org(handleListReminders(logger, store)))
	mux.Handle("DELETE /v1/meetings/{id}/reminders/{reminder_id}", org(handleDeleteReminder(logger, store, queue)))

	// Public intake.
	mux.Handle("POST /v1/meetings/{id}/registrations", handleRegister(logger, store, queue, cfg))
	mux.Handle("POST /v1/meetings/{id}/registrations/resend", handleResend(logger, store, queue, cfg))
	mux.Handle("POST /v1/registrations/{token}/cancel", handleCancelRegistrationAPI(logger, store, queue, cfg))

	// The meeting's public page and its registration form.
	mux.Handle("GET /m/{id}", handleMeetingPage(logger, store, cfg))
	mux.Handle("POST /m/{id}", crossOriginOnly(logger, cfg, handleRegisterForm(logger, store, queue, cfg)))
	mux.Handle("GET /m/{id}/registered", handleRegisteredPage(logger, store, cfg))
	mux.Handle("GET "+templates.StylesheetPath, handleStylesheet())

	// The participant's personal link.
	mux.Handle("GET /r/{token}", handleRegistrationPage(logger, store, cfg))
	mux.Handle("POST /r/{token}/cancel", handleCancelRegistrationPage(logger, store, queue, cfg))

	// Organisers' one-click unsubscribe from digests (RFC 8058).
	mux.Handle("GET /v1/digests/unsubscribe/{token}", handleUnsubscribePage(logger, cfg))
	mux.Handle("POST /v1/digests/unsubscribe/{token}", handleUnsubscribe(logger, store, cfg))

	// Ops.
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(store))
	ops := requireOps(logger, cfg.OpsToken)
	mux.Handle("GET /v1/ops/queues", ops(handleOpsQueues(logger, cfg.QueueStats)))
	mux.Handle("GET /ops/debug/pprof/", Profiling(logger, cfg.OpsToken))
	if cfg.QueueUI != nil {
		mux.Handle("/ops/queues/", ops(cfg.QueueUI))
	}
	if cfg.MetricsHandler != nil {
		mux.Handle("GET /metrics", cfg.MetricsHandler)
	}
}
