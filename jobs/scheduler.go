package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Enqueuer      Enqueuer
	Logger        *slog.Logger
	SweepInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Scheduler enqueues Convene's periodic jobs. It only enqueues: the work
// happens in the jobs. Any number of schedulers may run; each periodic
// task carries a TaskID per period, so replicas do not stack it up.
type Scheduler struct {
	cfg  SchedulerConfig
	cron *cron.Cron
}

// NewScheduler returns a Scheduler; Run starts it.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepInterval <= 0 {
		return nil, fmt.Errorf("scheduler: sweep interval must be positive")
	}
	s := &Scheduler{cfg: cfg, cron: cron.New(cron.WithLocation(time.UTC))}
	s.cron.Schedule(cron.Every(cfg.SweepInterval), cron.FuncJob(s.enqueueSweep))
	return s, nil
}

// Run runs the scheduler until ctx ends, then waits for a running
// callback to return.
func (s *Scheduler) Run(ctx context.Context) error {
	s.cfg.Logger.Info("scheduler started", "sweep_interval", s.cfg.SweepInterval.String())
	s.enqueueSweep() // a restarted scheduler sweeps at once rather than an interval later
	s.cron.Start()
	<-ctx.Done()
	<-s.cron.Stop().Done()
	s.cfg.Logger.Info("scheduler stopped")
	return nil
}

func (s *Scheduler) enqueueSweep() {
	period := s.cfg.Now().Truncate(s.cfg.SweepInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := enqueue(ctx, s.cfg.Enqueuer, NewSweepTask(period)); err != nil {
		s.cfg.Logger.Warn("cannot enqueue outbox sweep", "error", err.Error())
	}
}
