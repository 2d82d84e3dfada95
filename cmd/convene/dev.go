package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene/config"
	"convene/metrics"
)

// runDev runs web, worker and scheduler in one process on one Redis client.
func runDev(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	m := metrics.New(asynq.NewInspectorFromRedisClient(rdb))
	rw, closeWorker, err := startWorker(cfg, rdb, logger.With("component", "worker"), m)
	if err != nil {
		return err
	}
	defer closeWorker()
	sched, err := newScheduler(cfg, rdb, logger.With("component", "scheduler"))
	if err != nil {
		return err
	}
	logger.Info("dev mode", "mail_url", cfg.MailURL, "public_url", cfg.PublicURL)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sched.Run(ctx); err != nil {
			logger.Error("scheduler stopped", "error", err.Error())
			cancel()
		}
	}()
	webLogger := logger.With("component", "web")
	h, closeWeb, err := newWebHandler(cfg, rdb, webLogger, m)
	if err != nil {
		cancel()
		wg.Wait()
		rw.stop(logger)
		return err
	}
	defer closeWeb()
	err = serveHTTP(ctx, cfg, h, webLogger)
	cancel()
	wg.Wait()
	rw.stop(logger)
	return err
}
