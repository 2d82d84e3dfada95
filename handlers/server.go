package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"convene"
)

// Store is what the HTTP handlers need from storage.
type Store interface {
	CreateMeeting(ctx context.Context, m convene.Meeting) error
	Meeting(ctx context.Context, id string) (convene.Meeting, error)
	Meetings(ctx context.Context) ([]convene.Meeting, error)
	Register(ctx context.Context, r convene.Registration) (convene.Registration, bool, error)
	Enqueued(ctx context.Context, msg convene.Message) error
	Ping(ctx context.Context) error
}

// Queue enqueues the job that sends a participant email.
type Queue interface {
	EnqueueEmail(ctx context.Context, msg convene.Message) error
}

// Config is what the handlers need from the configuration.
type Config struct {
	OrganiserTokens []string
	ReminderOffsets []convene.Offset
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RequestTimeout bounds each request's work against Redis (default 5 s).
	RequestTimeout time.Duration
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
	mux := http.NewServeMux()
	addRoutes(mux, logger, store, queue, cfg)
	return logRequests(logger, jsonFallback(mux))
}
