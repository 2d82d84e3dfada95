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
	"github.com/redis/go-redis/v9"

	"convene/config"
	"convene/handlers"
	"convene/jobs"
	"convene/store"
)

var (
	_ handlers.Store = (*store.Store)(nil)
	_ handlers.Queue = jobs.Queue{}
)

// webShutdownTimeout bounds how long in-flight requests may take at SIGTERM.
const webShutdownTimeout = 10 * time.Second

func runWeb(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	h, closeFn := newWebHandler(cfg, rdb, logger)
	defer closeFn()
	return serveHTTP(ctx, cfg, h, logger)
}

// newWebHandler wires the HTTP API to the store and the job queue.
func newWebHandler(cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) (http.Handler, func()) {
	client := asynq.NewClientFromRedisClient(rdb)
	h := handlers.NewServer(logger, store.New(rdb), jobs.Queue{Enqueuer: client}, handlers.Config{
		OrganiserTokens: cfg.OrganiserTokens,
		ReminderOffsets: cfg.ReminderOffsets,
		AfterStore:      faultAfterStore(),
	})
	return h, func() { client.Close() }
}

// serveHTTP serves h on cfg.Port until ctx ends, then drains connections.
func serveHTTP(ctx context.Context, cfg config.Config, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
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
	logger.Info("web listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("web shutting down", "timeout", webShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), webShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("web stopped")
	return nil
}
