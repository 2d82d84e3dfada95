package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"convene"
	"convene/config"
	"convene/handlers"
	"convene/jobs"
	"convene/metrics"
	"convene/ratelimit"
	"convene/store"
	"convene/templates"
)

var (
	_ handlers.Store = (*store.Store)(nil)
	_ handlers.Queue = jobs.Queue{}
)

// webShutdownTimeout bounds how long in-flight requests may take at SIGTERM.
const webShutdownTimeout = 10 * time.Second

func runWeb(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	h, closeFn, err := newWebHandler(cfg, rdb, logger, metrics.New(asynq.NewInspectorFromRedisClient(rdb)))
	if err != nil {
		return err
	}
	defer closeFn()
	return serveHTTP(ctx, cfg, h, logger)
}

// newWebHandler wires the HTTP API to the store and the job queue.
func newWebHandler(cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger, m *metrics.Metrics) (http.Handler, func(), error) {
	signer, err := convene.NewSigner(cfg.SigningKey)
	if err != nil {
		return nil, nil, &config.Error{Var: "SIGNING_KEY", Msg: convene.ErrorMessage(err)}
	}
	pages, err := templates.NewPages()
	if err != nil {
		return nil, nil, err
	}
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	queue := jobs.Queue{Enqueuer: client, Tasks: inspector}
	st := store.New(rdb, store.WithWait(cfg.RedisWaitReplicas, cfg.RedisWaitTimeout))
	done := st.NewDoneBatcher(logger)
	registering := st.NewRegisterBatcher()
	limiter := ratelimit.New(rdb, store.DefaultPrefix)
	h := handlers.NewServer(logger, batchedStore{st, done, registering}, queue, handlers.Config{
		OrganiserTokens: cfg.OrganiserTokens,
		ReminderOffsets: cfg.ReminderOffsets,
		Signer:          signer,
		Pages:           pages,
		AfterStore:      faultAfterStore(),
		OpsToken:        cfg.OpsToken,
		QueueStats:      func(ctx context.Context) (any, error) { return queueStats(ctx, inspector) },
		Metrics:         m,
		MetricsHandler:  m.Handler(),
		Limiter:         limiter,
		RatePerIP:       cfg.IntakeRatePerIP,
		RatePerEmail:    cfg.IntakeRatePerEmail,
		TrustedProxies:  cfg.TrustedProxies,
		QueueUI: asynqmon.New(asynqmon.Options{
			RootPath:     "/ops/queues",
			RedisConnOpt: sharedRedis{rdb},
		}),
	})
	return h, func() {
		limiter.Close()
		registering.Close()
		done.Close()
		client.Close()
	}, nil
}

// batchedStore is the store of the web process: registrations arriving
// together share round trips, and a request drops the intents it enqueued
// from the outbox in the background, many per round trip, rather than
// waiting for it.
type batchedStore struct {
	*store.Store
	done        *store.DoneBatcher
	registering *store.RegisterBatcher
}

// Register counts a registration against its limits and stores it in the
// next shared round trips.
func (s batchedStore) Register(ctx context.Context, r convene.Registration, limits ...ratelimit.Check) (convene.Registration, []convene.Intent, error) {
	return s.registering.Register(ctx, r, limits...)
}

// Done queues the intent to be dropped from its outbox.
func (s batchedStore) Done(ctx context.Context, in convene.Intent) error { return s.done.Done(ctx, in) }

// sharedRedis hands asynqmon the process's own Redis client (asynqmon
// takes connection options, and builds its client by calling
// MakeRedisClient). Its Close is never called: the client is the
// process's.
type sharedRedis struct{ c redis.UniversalClient }

// MakeRedisClient returns the shared client.
func (s sharedRedis) MakeRedisClient() any { return s.c }

// serveMetrics serves GET /metrics, GET /healthz and the ops-guarded
// profiles (/ops/debug/pprof/) on cfg.MetricsPort,
// for the worker and scheduler, which have no other HTTP port.
func serveMetrics(ctx context.Context, cfg config.Config, m *metrics.Metrics, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.Handle("GET /ops/debug/pprof/", handlers.Profiling(logger, cfg.OpsToken))
	return serveHTTPOn(ctx, "metrics", cfg.MetricsPort, cfg, mux, logger)
}

// serveHTTP serves h on cfg.Port until ctx ends, then drains connections.
func serveHTTP(ctx context.Context, cfg config.Config, h http.Handler, logger *slog.Logger) error {
	return serveHTTPOn(ctx, "web", cfg.Port, cfg, h, logger)
}

func serveHTTPOn(ctx context.Context, name string, port int, cfg config.Config, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info(name+" listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info(name+" shutting down", "timeout", webShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), webShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info(name + " stopped")
	return nil
}
