package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene/config"
	"convene/jobs"
	"convene/metrics"
	"convene/store"
)

func runScheduler(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	s, err := newScheduler(cfg, rdb, logger)
	if err != nil {
		return err
	}
	if cfg.MetricsPort >= 0 {
		// The scheduler has no metrics of its own; the queue metrics are
		// the same from every process.
		go func() {
			if err := serveMetrics(ctx, cfg, metrics.New(asynq.NewInspectorFromRedisClient(rdb)), logger); err != nil {
				logger.Error("metrics server stopped", "error", err.Error())
			}
		}()
	}
	return s.Run(ctx)
}

func newScheduler(cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) (*jobs.Scheduler, error) {
	sched, err := jobs.ParseSchedule(cfg.DigestSchedule, cfg.DigestTimezone)
	if err != nil {
		return nil, &config.Error{Var: "DIGEST_SCHEDULE", Msg: fmt.Sprintf("%q is not a cron spec (5 fields, or @daily, @every 10s, …): %v", cfg.DigestSchedule, err)}
	}
	return jobs.NewScheduler(jobs.SchedulerConfig{
		Enqueuer:      asynq.NewClientFromRedisClient(rdb),
		Logger:        logger,
		SweepInterval: cfg.SweepInterval,
		Digest:        sched,
		Ticks:         store.New(rdb),
	})
}
