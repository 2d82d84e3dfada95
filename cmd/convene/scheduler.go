package main

import (
	"context"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene/config"
	"convene/jobs"
)

func runScheduler(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	s, err := newScheduler(cfg, rdb, logger)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func newScheduler(cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) (*jobs.Scheduler, error) {
	return jobs.NewScheduler(jobs.SchedulerConfig{
		Enqueuer:      asynq.NewClientFromRedisClient(rdb),
		Logger:        logger,
		SweepInterval: cfg.SweepInterval,
	})
}
