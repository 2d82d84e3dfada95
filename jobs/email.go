package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/store"
	"convene/templates"
)

// Store is what the jobs need from storage.
type Store interface {
	Meeting(ctx context.Context, id string) (convene.Meeting, error)
	Previous(ctx context.Context, id string) (*convene.Meeting, time.Time, error)
	Registration(ctx context.Context, meetingID, id string) (convene.Registration, error)
	RegistrationsBySeq(ctx context.Context, meetingID string, from, to int64) ([]convene.Registration, error)
	LastSeq(ctx context.Context, meetingID string) (int64, error)
	Reminder(ctx context.Context, meetingID, id string) (convene.Reminder, error)
	Reminders(ctx context.Context, meetingID string) ([]convene.Reminder, error)
	ClaimMessages(ctx context.Context, meetingID string, registrationIDs []string, kind, variant string, lockTTL time.Duration) ([]store.Claim, error)
	ClaimSend(ctx context.Context, msg convene.Message, lockTTL time.Duration) (convene.Meeting, convene.Registration, store.Claim, error)
	TakeNotices(ctx context.Context, meetingID string, max int) ([]convene.Message, error)
	ClaimSends(ctx context.Context, meetingID string, msgs []convene.Message, lockTTL time.Duration) (convene.Meeting, []store.Claim, []convene.Registration, error)
	FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error
	StaleIntents(ctx context.Context, before time.Time, limit int) ([]convene.Intent, error)
	Done(ctx context.Context, in convene.Intent) error
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

// TaskDeleter deletes tasks that are no longer wanted (an old meeting
// version's reminders): *asynq.Inspector.
type TaskDeleter interface {
	DeleteTask(queue, id string) error
}

// Metrics is what the jobs report; *metrics.Metrics.
type Metrics interface {
	Job(taskType, outcome string, d time.Duration)
	EmailSent(kind string, smtp time.Duration)
	EmailFailed(kind, reason string)
	UnknownOutcome(kind string)
	ReminderLateness(d time.Duration)
}

type noMetrics struct{}

func (noMetrics) Job(string, string, time.Duration) {}
func (noMetrics) EmailSent(string, time.Duration)   {}
func (noMetrics) EmailFailed(string, string)        {}
func (noMetrics) UnknownOutcome(string)             {}
func (noMetrics) ReminderLateness(time.Duration)    {}

// errBusy means another run of the same message holds its ledger claim.
var errBusy = errors.New("message is being sent by another run")

// Worker runs Convene's jobs. Build it with its fields set, then serve
// NewMux(w) with an asynq server configured by ServerConfig.
type Worker struct {
	Store     Store
	Sender    Sender
	Renderer  Renderer
	Queue     Queue
	Tasks     TaskDeleter
	Signer    *convene.Signer
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
	// LockTTL is how long a ledger claim protects a send in progress; it
	// must be longer than the longest send (the SMTP timeout).
	LockTTL time.Duration
	// SendParallel is how many registration notices a notices job renders
	// and sends at once (default 1). Above the SMTP pool's size, each
	// connection finds the next message rendered when it is free.
	SendParallel int
	// NoticesRunFor is how long one run of a notices job takes batches
	// before it hands over to a new run, so that no run holds a worker
	// slot, or a shutdown, for long (default 5 s).
	NoticesRunFor time.Duration
	// SweepAge is how old an intent must be before the sweep enqueues it
	// (the process that recorded it enqueues within milliseconds).
	SweepAge time.Duration
	// Digests, DigestRenderer and DigestLocation serve the organiser
	// digests (DigestLocation is DIGEST_TIMEZONE).
	Digests        DigestStore
	DigestRenderer DigestRenderer
	DigestLocation *time.Location
	// Metrics receives what the jobs observe (nil: nothing).
	Metrics Metrics
	// AfterSent, when set, runs after a message was accepted and its
	// ledger entry written, before the job reports done. Fault-injection
	// builds use it to kill the worker at that moment; production leaves
	// it nil.
	AfterSent func(convene.Message)
	// Observe, when set, is told of every email handed to the SMTP server,
	// with when it was due (zero when it was not scheduled): tests and
	// metrics use it.
	Observe func(msg convene.Message, due time.Time, sentAt time.Time)

	stopping atomic.Bool
}

// Stop tells the jobs running now to finish the sends they have started
// and to hand what they have not started over to a new job, which the next
// worker runs. Call it when the process is asked to stop, before the asynq
// server's Shutdown, which then waits for them.
func (w *Worker) Stop() { w.stopping.Store(true) }

// NewMux returns the asynq handler for every task type.
func NewMux(w *Worker) *asynq.ServeMux {
	if w.Metrics == nil {
		w.Metrics = noMetrics{}
	}
	mux := asynq.NewServeMux()
	mux.Use(w.logJobs)
	mux.HandleFunc(TypeEmail, w.handleEmail)
	mux.HandleFunc(TypeSchedule, w.handleSchedule)
	mux.HandleFunc(TypeFanout, w.handleFanout)
	mux.HandleFunc(TypeBatch, w.handleBatch)
	mux.HandleFunc(TypeSweep, w.handleSweep)
	mux.HandleFunc(TypeNotices, w.handleNotices)
	mux.HandleFunc(TypeDigestTick, w.handleDigestTick)
	mux.HandleFunc(TypeDigest, w.handleDigest)
	return mux
}

// handleEmail sends one email to one participant, at most once per message
// as far as Convene can know: the ledger is claimed before the send and
// marked right after the server accepted it.
func (w *Worker) handleEmail(ctx context.Context, t *asynq.Task) error {
	var msg convene.Message
	if err := json.Unmarshal(t.Payload(), &msg); err != nil {
		return fmt.Errorf("bad payload: %v: %w", err, asynq.SkipRetry)
	}
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("bad payload: %v: %w", err, asynq.SkipRetry)
	}
	if msg.Kind == convene.EmailDigest {
		return fmt.Errorf("bad payload: digest is not a participant email: %w", asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", msg.MeetingID, "registration_id", msg.RegistrationID, "kind", msg.Kind)

	// One round trip loads the meeting and the registration and claims
	// the message. A stale message is claimed too, then recorded as
	// skipped: staleness is rare, round trips are not.
	m, r, claim, err := w.Store.ClaimSend(ctx, msg, w.LockTTL)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		log.Info("email skipped: meeting no longer exists")
		return nil
	} else if err != nil {
		return err
	}
	switch claim {
	case store.ClaimOK:
	case store.ClaimGone:
		log.Info("email skipped: registration no longer exists")
		return w.finish(ctx, msg, store.OutcomeSkipped, "")
	case store.ClaimBusy:
		return errBusy
	case store.ClaimBounced:
		// It bounced in an earlier run (or in a notices batch, which hands
		// it here): the job ends archived, like the run that bounced it.
		log.Info("email already handled", "ledger", string(claim))
		return fmt.Errorf("the message bounced: the SMTP server refused it permanently (the worker log has its reply): %w", asynq.SkipRetry)
	default:
		log.Info("email already handled", "ledger", string(claim))
		return nil
	}
	if reason := stale(msg, m, r); reason != "" {
		log.Info("email skipped: " + reason)
		return w.finish(ctx, msg, store.OutcomeSkipped, "")
	}
	data := templates.Data{Meeting: m, Registration: r, Message: msg, Now: m.UpdatedAt}
	err = w.deliver(ctx, log, data, time.Time{})
	if convene.IsPermanent(err) {
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	return err
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

// deliver renders and sends one claimed message, and records the outcome
// in the ledger. log must carry the meeting, registration and kind. It returns nil once the message is sent, the permanent
// *convene.SendError when it bounced (recorded: do not retry), and any
// other error when it should be tried again (the claim is released).
// Errors never carry the participant's address, since asynq keeps them.
func (w *Worker) deliver(ctx context.Context, log *slog.Logger, d templates.Data, due time.Time) error {
	msg := d.Message
	d.Link = w.PublicURL + "/r/" + w.Signer.Sign(msg.MeetingID, msg.RegistrationID)
	email, err := w.Renderer.Participant(d)
	if err != nil {
		_ = w.finish(ctx, msg, store.OutcomeRetry, "")
		return fmt.Errorf("render %s: %w", msg.Kind, err)
	}
	start := w.Now()
	err = w.Sender.Send(ctx, email)
	took := w.Now().Sub(start)
	if err != nil {
		err = scrub(err, d.Registration)
	}
	switch {
	case err == nil:
		attrs := []any{"smtp_ms", took.Milliseconds()}
		if !due.IsZero() {
			attrs = append(attrs, "late_ms", w.Now().Sub(due).Milliseconds())
		}
		log.Info("email sent", attrs...)
		w.Metrics.EmailSent(msg.Kind, took)
		if !due.IsZero() {
			w.Metrics.ReminderLateness(w.Now().Sub(due))
		}
		if w.Observe != nil {
			w.Observe(msg, due, w.Now())
		}
		err := w.finish(ctx, msg, store.OutcomeSent, convene.EmailSent)
		if err == nil && w.AfterSent != nil {
			w.AfterSent(msg)
		}
		return err
	case convene.IsPermanent(err):
		log.Warn("email bounced", "error", err.Error())
		w.Metrics.EmailFailed(msg.Kind, convene.SendReason(err))
		if ferr := w.finish(ctx, msg, store.OutcomeBounced, convene.EmailBounced); ferr != nil {
			return ferr
		}
		return err
	default:
		log.Warn("email failed, will retry", "error", err.Error(), "reason", convene.SendReason(err))
		w.Metrics.EmailFailed(msg.Kind, convene.SendReason(err))
		if convene.SendReason(err) == convene.ReasonUnknown {
			w.Metrics.UnknownOutcome(msg.Kind)
		}
		if ferr := w.finish(ctx, msg, store.OutcomeRetry, convene.EmailRetrying); ferr != nil {
			log.Error("cannot release ledger claim", "error", ferr.Error())
		}
		return err
	}
}

// scrubbedError keeps an error's identity (errors.Is/As see the original)
// but shows a text without the participant's address or name, because
// asynq stores the text of failed tasks and logs show it.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error, r convene.Registration) error {
	text := err.Error()
	for _, s := range []string{r.Email, convene.NormalizeEmail(r.Email), r.Name} {
		if s != "" {
			text = replaceFold(text, s, "<participant>")
		}
	}
	return &scrubbedError{text: text, err: err}
}

// replaceFold replaces every case-insensitive occurrence of old in s.
func replaceFold(s, old, repl string) string {
	lower, lold := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) || len(lold) != len(old) {
		return strings.ReplaceAll(s, old, repl) // case mapping changed lengths: exact match only
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, lold)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
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

// handleSweep enqueues the intents that were recorded but whose job was
// never enqueued (the process died, or Redis failed, in between).
func (w *Worker) handleSweep(ctx context.Context, _ *asynq.Task) error {
	intents, err := w.Store.StaleIntents(ctx, w.Now().Add(-w.SweepAge), sweepBatch)
	if err != nil {
		return err
	}
	log := loggerFrom(ctx, w.Logger)
	for _, in := range intents {
		if err := w.Queue.Enqueue(ctx, in); err != nil {
			return err
		}
		if err := w.Store.Done(ctx, in); err != nil {
			return err
		}
		log.Info("sweep enqueued intent", "meeting_id", in.MeetingID, "intent", in.Type, "kind", in.Kind, "registration_id", in.RegistrationID)
	}
	return nil
}
