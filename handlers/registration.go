package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"convene"
)

// registrationView is what the public intake answers: the registration's
// id and standing, never the personal data of an existing registration
// (anyone who knows an address could otherwise read its owner's name).
type registrationView struct {
	ID          string    `json:"id"`
	MeetingID   string    `json:"meeting_id"`
	Status      string    `json:"status"`
	Position    int       `json:"position,omitempty"`
	EmailStatus string    `json:"email_status"`
	CreatedAt   time.Time `json:"created_at"`
}

func handleRegister(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in convene.RegistrationInput
		if err := decode(w, r, &in); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		reg, err := convene.NewRegistration(r.PathValue("id"), in, cfg.Now())
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		reg, created, err := store.Register(ctx, reg)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			if cfg.AfterStore != nil {
				cfg.AfterStore(reg)
			}
			// The registration and its email intent are stored: from here
			// on a failure to enqueue is the sweep's to repair, never the
			// participant's problem.
			msg := convene.NoticeMessage(reg)
			if err := queue.EnqueueEmail(ctx, msg); err != nil {
				logger.Warn("enqueue failed; the sweep will enqueue it", "error", err.Error(), "registration_id", reg.ID, "request_id", requestID(r))
			} else if err := store.Enqueued(ctx, msg); err != nil {
				logger.Warn("outbox cleanup failed; the sweep will find the job exists", "error", err.Error(), "registration_id", reg.ID, "request_id", requestID(r))
			}
			logger.Info("registration created", "registration_id", reg.ID, "meeting_id", reg.MeetingID, "status", reg.Status, "request_id", requestID(r))
		}
		encode(w, status, registrationView{
			ID: reg.ID, MeetingID: reg.MeetingID, Status: reg.Status, Position: reg.Position,
			EmailStatus: reg.EmailStatus, CreatedAt: reg.CreatedAt,
		})
	})
}

func withTimeout(r *http.Request, cfg Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), cfg.RequestTimeout)
}
