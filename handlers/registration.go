package handlers

import (
	"context"
	"encoding/csv"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"convene"
	"convene/templates"
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

func viewOf(reg convene.Registration) registrationView {
	return registrationView{
		ID: reg.ID, MeetingID: reg.MeetingID, Status: reg.Status, Position: reg.Position,
		EmailStatus: reg.EmailStatus, CreatedAt: reg.CreatedAt,
	}
}

func handleRegister(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			outcome := "rejected"
			if convene.ErrorCode(err) == convene.EUNAVAILABLE {
				outcome = "unavailable"
			}
			cfg.Metrics.Registration(outcome)
			encodeError(w, r, logger, err)
		}
		var in convene.RegistrationInput
		if err := decode(w, r, &in); err != nil {
			fail(err)
			return
		}
		reg, err := convene.NewRegistration(r.PathValue("id"), in, cfg.Now())
		if err != nil {
			fail(err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		if err := checkLimits(ctx, r, cfg, reg.Email); err != nil {
			if convene.ErrorCode(err) == convene.ETOOMANY {
				cfg.Metrics.Registration("limited")
				encodeError(w, r, logger, err)
				return
			}
			fail(err)
			return
		}
		stored, intents, err := store.Register(ctx, reg)
		if err != nil {
			fail(err)
			return
		}
		// An existing registration of the address comes back with its own id.
		created := stored.ID == reg.ID
		reg = stored
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			if cfg.AfterStore != nil {
				cfg.AfterStore(reg)
			}
			// The registration and its email intent are stored: from here
			// on a failure to enqueue is the sweep's to repair, never the
			// participant's problem.
			dispatch(ctx, r, logger, store, queue, intents)
			cfg.Metrics.Registration("created_" + reg.Status)
			annotate(r, slog.String("registration_id", reg.ID), slog.String("meeting_id", reg.MeetingID), slog.String("registration_status", reg.Status))
		} else {
			cfg.Metrics.Registration("existing")
		}
		encode(w, status, viewOf(reg))
	})
}

// handleResend sends a registration's notice again. It answers 202 whatever
// the address, so it never tells whether someone is registered.
func handleResend(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Email string `json:"email"`
		}
		if err := decode(w, r, &in); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		email, err := convene.ParseEmail(in.Email)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		if err := checkLimits(ctx, r, cfg, email); err != nil {
			encodeError(w, r, logger, err)
			return
		}
		m, err := store.Meeting(ctx, r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		intents, err := store.Resend(ctx, m.ID, email)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		dispatch(ctx, r, logger, store, queue, intents)
		encode(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	})
}

// csvColumns are the columns of the registrations export, in order.
var csvColumns = []string{"id", "name", "email", "organisation", "language", "status", "email_status", "created_at"}

func handleListRegistrations(logger *slog.Logger, store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := store.Meeting(r.Context(), r.PathValue("id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		regs, err := store.Registrations(r.Context(), m.ID)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		if !wantsCSV(r) {
			if regs == nil {
				regs = []convene.Registration{}
			}
			encode(w, http.StatusOK, map[string]any{"registrations": regs})
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+m.ID+`-registrations.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write(csvColumns)
		for _, reg := range regs {
			_ = cw.Write([]string{
				reg.ID, csvCell(reg.Name), csvCell(reg.Email), csvCell(reg.Organisation), reg.Language,
				reg.Status, reg.EmailStatus, reg.CreatedAt.Format(time.RFC3339),
			})
		}
		cw.Flush()
	})
}

// wantsCSV reports whether the request asks for CSV: Accept: text/csv, or
// ?format=csv for links (the digest's export link).
func wantsCSV(r *http.Request) bool {
	if r.URL.Query().Get("format") == "csv" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// csvCell defuses participant text that a spreadsheet would run as a
// formula (CSV injection): a leading =, +, -, @, tab or CR gets a quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// handleErase erases a participant's personal data.
func handleErase(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		intents, msgs, err := store.Erase(ctx, r.PathValue("id"), r.PathValue("registration_id"))
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		queue.ForgetMessages(msgs)
		dispatch(ctx, r, logger, store, queue, intents)
		logger.Info("registration erased", "meeting_id", r.PathValue("id"), "registration_id", r.PathValue("registration_id"), "request_id", requestID(r))
		w.WriteHeader(http.StatusNoContent)
	})
}

// registrationFor verifies a personal-link token and loads what it names;
// any failure is ENOTFOUND, so a tampered token looks like an unknown one.
func registrationFor(ctx context.Context, store Store, cfg Config, token string) (convene.Meeting, convene.Registration, error) {
	notFound := convene.Errorf(convene.ENOTFOUND, "this link is not valid")
	mid, rid, ok := cfg.Signer.Verify(token)
	if !ok {
		return convene.Meeting{}, convene.Registration{}, notFound
	}
	m, err := store.Meeting(ctx, mid)
	if err != nil {
		if convene.ErrorCode(err) == convene.ENOTFOUND {
			err = notFound
		}
		return convene.Meeting{}, convene.Registration{}, err
	}
	reg, err := store.Registration(ctx, mid, rid)
	if err != nil {
		if convene.ErrorCode(err) == convene.ENOTFOUND {
			err = notFound
		}
		return convene.Meeting{}, convene.Registration{}, err
	}
	return m, reg, nil
}

// cancelByToken cancels the registration a token names; cancelling twice
// is a no-op.
func cancelByToken(ctx context.Context, r *http.Request, logger *slog.Logger, store Store, queue Queue, cfg Config) (convene.Meeting, convene.Registration, error) {
	m, reg, err := registrationFor(ctx, store, cfg, r.PathValue("token"))
	if err != nil {
		return m, reg, err
	}
	reg, intents, err := store.CancelRegistration(ctx, m.ID, reg.ID)
	if err != nil {
		return m, reg, err
	}
	if len(intents) > 0 {
		dispatch(ctx, r, logger, store, queue, intents)
		logger.Info("registration cancelled", "meeting_id", m.ID, "registration_id", reg.ID, "request_id", requestID(r))
	}
	return m, reg, nil
}

func handleCancelRegistrationAPI(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		_, reg, err := cancelByToken(ctx, r, logger, store, queue, cfg)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		encode(w, http.StatusOK, viewOf(reg))
	})
}

// handleRegistrationPage shows the registration behind a personal link,
// with a cancel button. A GET never changes anything: mail scanners follow
// links.
func handleRegistrationPage(logger *slog.Logger, store Store, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, reg, err := registrationFor(r.Context(), store, cfg, r.PathValue("token"))
		if err != nil {
			pageError(w, r, logger, cfg, err)
			return
		}
		page(w, r, logger, cfg, templates.PageData{Meeting: m, Registration: reg, CancelAction: "/r/" + r.PathValue("token") + "/cancel"})
	})
}

func handleCancelRegistrationPage(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		m, reg, err := cancelByToken(ctx, r, logger, store, queue, cfg)
		if err != nil {
			pageError(w, r, logger, cfg, err)
			return
		}
		page(w, r, logger, cfg, templates.PageData{Meeting: m, Registration: reg, JustCancelled: true})
	})
}

// pageSecurity sets the headers of every participant page: the URL is a
// secret, so it is neither cached by others nor sent on as a referrer.
func pageSecurity(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
}

func page(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cfg Config, d templates.PageData) {
	pageSecurity(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if err := cfg.Pages.Registration(w, d); err != nil {
		logger.Error("render page", "error", err.Error(), "request_id", requestID(r))
	}
}

// pageError answers a participant page's error: an HTML page for browsers,
// the API's JSON error for everything else.
func pageError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cfg Config, err error) {
	if !acceptsHTML(r) {
		encodeError(w, r, logger, err)
		return
	}
	status, ok := statusOf[convene.ErrorCode(err)]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		logger.Error("participant page failed", "error", err.Error(), "request_id", requestID(r))
	}
	pageSecurity(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = cfg.Pages.Error(w, status, convene.ErrorMessage(err))
}

func withTimeout(r *http.Request, cfg Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), cfg.RequestTimeout)
}
