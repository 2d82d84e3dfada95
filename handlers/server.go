package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"convene"
	"convene/ratelimit"
)

// Store is what the HTTP handlers need from storage. Every method that
// changes state returns the intents the change requires (emails to send,
// reminders to schedule); the handler enqueues them and marks them done.
type Store interface {
	CreateMeeting(ctx context.Context, m convene.Meeting) ([]convene.Intent, error)
	UpdateMeeting(ctx context.Context, old, u convene.Meeting, moved bool) ([]convene.Intent, error)
	CancelMeeting(ctx context.Context, id string) ([]convene.Intent, error)
	Meeting(ctx context.Context, id string) (convene.Meeting, error)
	Meetings(ctx context.Context) ([]convene.Meeting, error)
	Register(ctx context.Context, r convene.Registration, limits ...ratelimit.Check) (convene.Registration, []convene.Intent, error)
	Registration(ctx context.Context, meetingID, id string) (convene.Registration, error)
	Registrations(ctx context.Context, meetingID string) ([]convene.Registration, error)
	CancelRegistration(ctx context.Context, meetingID, id string) (convene.Registration, []convene.Intent, error)
	Resend(ctx context.Context, meetingID, email string) ([]convene.Intent, error)
	Erase(ctx context.Context, meetingID, id string) ([]convene.Intent, []convene.Message, error)
	AddReminder(ctx context.Context, meetingID string, r convene.Reminder) ([]convene.Intent, error)
	Reminders(ctx context.Context, meetingID string) ([]convene.Reminder, error)
	DeleteReminder(ctx context.Context, meetingID, id string) error
	Done(ctx context.Context, in convene.Intent) error
	Unsubscribe(ctx context.Context, orgID string) error
	Ping(ctx context.Context) error
}

// Queue enqueues the jobs intents call for, and forgets jobs that are no
// longer wanted (best effort: their handlers check the state anyway).
type Queue interface {
	Enqueue(ctx context.Context, in convene.Intent) error
	ForgetMessages(msgs []convene.Message)
	ForgetReminders(meetingID string, reminderIDs []string, version int)
}

// Config is what the handlers need besides their dependencies.
type Config struct {
	OrganiserTokens []string
	ReminderOffsets []convene.Offset
	Signer          *convene.Signer
	Pages           Pages
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RequestTimeout bounds each request's work against Redis (default 5 s).
	RequestTimeout time.Duration
	// OpsToken guards /ops/* and /v1/ops/*; empty: they answer 401.
	OpsToken string
	// QueueUI is the queue web UI served under /ops/queues/ (asynqmon).
	QueueUI http.Handler
	// QueueStats returns the per-queue statistics of GET /v1/ops/queues.
	QueueStats func(context.Context) (any, error)
	// MetricsHandler serves GET /metrics; Metrics receives what the
	// handlers observe. Both may be nil.
	MetricsHandler http.Handler
	Metrics        Metrics
	// RatePerIP registrations and resends are allowed per minute per
	// client address and RatePerEmail per hour per email address (0: no
	// limit): the Store counts a registration's (Store.Register's limits),
	// Limiter a resend's; with no Limiter, there are no limits.
	// TrustedProxies are believed about the client address
	// (X-Forwarded-For).
	Limiter        Limiter
	RatePerIP      int
	RatePerEmail   int
	TrustedProxies []netip.Prefix
	// AfterStore, when set, runs after a registration is stored and before
	// its email job is enqueued. Tests use it to simulate a web process
	// dying in between; production leaves it nil.
	AfterStore func(convene.Registration)
}

// MaxBodyBytes is the largest request body accepted (SPEC §3: 413 above).
const MaxBodyBytes = 64 << 10

// NewServer returns Convene's HTTP handler.
func NewServer(logger *slog.Logger, store Store, queue Queue, cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	mux := http.NewServeMux()
	addRoutes(mux, logger, store, queue, cfg)
	return logRequests(logger, cfg.Metrics, jsonFallback(mux))
}

// dispatch enqueues the jobs of the intents a change recorded and drops
// them from the outbox. A failure is logged, not returned: the change is
// stored with its intents, and the sweep enqueues what was not.
func dispatch(ctx context.Context, r *http.Request, logger *slog.Logger, store Store, queue Queue, intents []convene.Intent) {
	for _, in := range intents {
		if err := queue.Enqueue(ctx, in); err != nil {
			logger.Warn("enqueue failed; the sweep will enqueue it", "error", err.Error(), "meeting_id", in.MeetingID, "intent", in.Type, "request_id", requestID(r))
			continue
		}
		if err := store.Done(ctx, in); err != nil {
			logger.Warn("outbox cleanup failed; the sweep will find the job exists", "error", err.Error(), "meeting_id", in.MeetingID, "request_id", requestID(r))
		}
	}
}
