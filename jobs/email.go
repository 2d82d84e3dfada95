package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/store"
	"convene/templates"
)

// Store is what the jobs need from storage.
type Store interface {
	Meeting(ctx context.Context, id string) (convene.Meeting, error)
	Registration(ctx context.Context, meetingID, id string) (convene.Registration, error)
	ClaimMessage(ctx context.Context, msg convene.Message, lockTTL time.Duration) (store.Claim, error)
	FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error
	StaleOutbox(ctx context.Context, before time.Time, limit int) ([]convene.Message, error)
	Enqueued(ctx context.Context, msg convene.Message) error
}

// Sender delivers a rendered email. A failure it reports with
// convene.IsPermanent true is not retried.
type Sender interface {
	Send(ctx context.Context, e convene.Email) error
}

// Renderer turns a participant message into an email.
type Renderer interface {
	Participant(d templates.Data) (convene.Email, error)
}

// errBusy means another run of the same message holds its ledger claim.
var errBusy = errors.New("message is being sent by another run")

// Worker runs Convene's jobs. Build it with its fields set, then serve
// NewMux(w) with an asynq server configured by ServerConfig.
type Worker struct {
	Store     Store
	Sender    Sender
	Renderer  Renderer
	Queue     Queue
	Signer    *convene.Signer
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
	// LockTTL is how long a ledger claim protects a send in progress; it
	// must be longer than the longest send (the SMTP timeout).
	LockTTL time.Duration
	// SweepAge is how old an email intent must be before the sweep
	// enqueues it (the web process enqueues within milliseconds normally).
	SweepAge time.Duration
}

// NewMux returns the asynq handler for every task type.
func NewMux(w *Worker) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.logJobs)
	mux.HandleFunc(TypeEmail, w.handleEmail)
	mux.HandleFunc(TypeSweep, w.handleSweep)
	return mux
}

// handleEmail sends one participant email, at most once per message as far
// as Convene can know: the ledger is checked and claimed before the send
// and marked right after the server accepted it.
func (w *Worker) handleEmail(ctx context.Context, t *asynq.Task) error {
	var msg convene.Message
	if err := json.Unmarshal(t.Payload(), &msg); err != nil {
		return fmt.Errorf("bad payload: %v: %w", err, asynq.SkipRetry)
	}
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("bad payload: %v: %w", err, asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", msg.MeetingID, "registration_id", msg.RegistrationID, "kind", msg.Kind)

	m, err := w.Store.Meeting(ctx, msg.MeetingID)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		log.Info("email skipped: meeting no longer exists")
		return nil
	} else if err != nil {
		return err
	}
	r, err := w.Store.Registration(ctx, msg.MeetingID, msg.RegistrationID)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		log.Info("email skipped: registration no longer exists")
		return w.finish(ctx, msg, store.OutcomeSkipped, "")
	} else if err != nil {
		return err
	}
	if reason := stale(msg, m, r); reason != "" {
		log.Info("email skipped: " + reason)
		return w.finish(ctx, msg, store.OutcomeSkipped, "")
	}

	claim, err := w.Store.ClaimMessage(ctx, msg, w.LockTTL)
	if err != nil {
		return err
	}
	switch claim {
	case store.ClaimSent, store.ClaimBounced:
		log.Info("email already handled", "ledger", string(claim))
		return nil
	case store.ClaimBusy:
		return errBusy
	}

	email, err := w.Renderer.Participant(templates.Data{
		Meeting:      m,
		Registration: r,
		Message:      msg,
		Link:         w.PublicURL + "/r/" + w.Signer.Sign(m.ID, r.ID),
		Now:          m.UpdatedAt,
	})
	if err != nil {
		_ = w.finish(ctx, msg, store.OutcomeRetry, "")
		return fmt.Errorf("render %s: %w", msg.Kind, err)
	}

	start := w.Now()
	err = w.Sender.Send(ctx, email)
	took := w.Now().Sub(start)
	switch {
	case err == nil:
		log.Info("email sent", "smtp_ms", took.Milliseconds())
		return w.finish(ctx, msg, store.OutcomeSent, convene.EmailSent)
	case convene.IsPermanent(err):
		log.Warn("email bounced", "error", err.Error())
		if ferr := w.finish(ctx, msg, store.OutcomeBounced, convene.EmailBounced); ferr != nil {
			return ferr
		}
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	default:
		log.Warn("email failed, will retry", "error", err.Error(), "reason", convene.SendReason(err))
		if ferr := w.finish(ctx, msg, store.OutcomeRetry, convene.EmailRetrying); ferr != nil {
			log.Error("cannot release ledger claim", "error", ferr.Error())
		}
		return err
	}
}

// stale says why msg should no longer be sent given the current state, or
// "" when it should.
func stale(msg convene.Message, m convene.Meeting, r convene.Registration) string {
	if msg.Kind != convene.EmailCancelled && m.Status == convene.MeetingCancelled {
		return "meeting cancelled"
	}
	switch msg.Kind {
	case convene.EmailConfirmation, convene.EmailPromoted, convene.EmailReminder, convene.EmailUpdated:
		if r.Status != convene.StatusConfirmed {
			return "registration is " + r.Status
		}
	case convene.EmailWaitlisted:
		if r.Status != convene.StatusWaitlisted {
			return "registration is " + r.Status
		}
	}
	return ""
}

// finish records the outcome of a message. Once an email was accepted the
// record must land even if the task's context is cancelled (a Redis pause
// longer than asynq's lease cancels it): it is written on a context of its
// own and retried for a while, since losing it means a second email.
func (w *Worker) finish(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisWriteTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		err := w.Store.FinishMessage(ctx, msg, outcome, emailStatus)
		if err == nil || ctx.Err() != nil {
			return err
		}
		w.Logger.Warn("ledger write failed, retrying", "error", err.Error(), "meeting_id", msg.MeetingID, "registration_id", msg.RegistrationID)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// handleSweep enqueues the email intents that were stored but whose job was
// never enqueued (the web process died, or Redis failed, in between).
func (w *Worker) handleSweep(ctx context.Context, _ *asynq.Task) error {
	msgs, err := w.Store.StaleOutbox(ctx, w.Now().Add(-w.SweepAge), sweepBatch)
	if err != nil {
		return err
	}
	log := loggerFrom(ctx, w.Logger)
	for _, msg := range msgs {
		if err := w.Queue.EnqueueEmail(ctx, msg); err != nil {
			return err
		}
		if err := w.Store.Enqueued(ctx, msg); err != nil {
			return err
		}
		log.Info("sweep enqueued email", "meeting_id", msg.MeetingID, "registration_id", msg.RegistrationID, "kind", msg.Kind)
	}
	return nil
}
