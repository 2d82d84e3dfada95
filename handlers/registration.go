package handlers

import (
	"context"
	"encoding/csv"
	"io"
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
		var in convene.RegistrationInput
		if err := decode(w, r, &in); err != nil {
			cfg.Metrics.Registration("rejected")
			encodeError(w, r, logger, err)
			return
		}
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		reg, created, err := register(ctx, r, logger, store, queue, cfg, r.PathValue("id"), in)
		if err != nil {
			encodeError(w, r, logger, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		encode(w, status, viewOf(reg))
	})
}

// register is the one path of every registration, from the JSON intake
// and from the form alike: validation, the intake limits, the store's
// atomic registration against capacity, and the jobs of its intents. It
// returns the registration and whether it is new; an address already
// registered for the meeting returns its existing registration, and
// nothing changes. Metrics count each outcome.
func register(ctx context.Context, r *http.Request, logger *slog.Logger, store Store, queue Queue, cfg Config, meetingID string, in convene.RegistrationInput) (convene.Registration, bool, error) {
	fail := func(err error) (convene.Registration, bool, error) {
		outcome := "rejected"
		switch convene.ErrorCode(err) {
		case convene.EUNAVAILABLE:
			outcome = "unavailable"
		case convene.ETOOMANY:
			outcome = "limited"
		}
		cfg.Metrics.Registration(outcome)
		return convene.Registration{}, false, err
	}
	reg, err := convene.NewRegistration(meetingID, in, cfg.Now())
	if err != nil {
		return fail(err)
	}
	stored, intents, err := store.Register(ctx, reg, intakeLimits(r, cfg, reg.Email)...)
	if err != nil {
		return fail(limited(err))
	}
	// An existing registration of the address comes back with its own id.
	if stored.ID != reg.ID {
		cfg.Metrics.Registration("existing")
		return stored, false, nil
	}
	if cfg.AfterStore != nil {
		cfg.AfterStore(stored)
	}
	// The registration and its email intent are stored: from here on a
	// failure to enqueue is the sweep's to repair, never the participant's
	// problem.
	dispatch(ctx, r, logger, store, queue, intents)
	cfg.Metrics.Registration("created_" + stored.Status)
	annotate(r, slog.String("registration_id", stored.ID), slog.String("meeting_id", stored.MeetingID), slog.String("registration_status", stored.Status))
	return stored, true, nil
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
		path := "/r/" + r.PathValue("token")
		m, reg, err := registrationFor(r.Context(), store, cfg, r.PathValue("token"))
		if err != nil {
			pageError(w, r, logger, cfg, path, err)
			return
		}
		lang := registrationLanguage(r, reg)
		page(w, r, logger, cfg, templates.PageData{Page: templates.Page{Lang: lang, Path: path}, Meeting: m, Registration: reg, CancelAction: path + "/cancel"})
	})
}

func handleCancelRegistrationPage(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := withTimeout(r, cfg)
		defer cancel()
		path := "/r/" + r.PathValue("token")
		m, reg, err := cancelByToken(ctx, r, logger, store, queue, cfg)
		if err != nil {
			pageError(w, r, logger, cfg, path, err)
			return
		}
		lang := registrationLanguage(r, reg)
		page(w, r, logger, cfg, templates.PageData{Page: templates.Page{Lang: lang, Path: path}, Meeting: m, Registration: reg, JustCancelled: true})
	})
}

func page(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cfg Config, d templates.PageData) {
	privatePage(w)
	renderPage(w, r, logger, http.StatusOK, func(w io.Writer) error { return cfg.Pages.Registration(w, d) })
}

// pageError answers a personal page's error: an HTML page for browsers,
// the API's JSON error for everything else.
func pageError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, cfg Config, path string, err error) {
	if !acceptsHTML(r) {
		encodeError(w, r, logger, err)
		return
	}
	privatePage(w)
	lang, _ := pageLanguage(r)
	errorPage(w, r, logger, cfg, templates.Page{Lang: lang, Path: path}, templates.ReasonBadLink, "", err)
}

func withTimeout(r *http.Request, cfg Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), cfg.RequestTimeout)
}
