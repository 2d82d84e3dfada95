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
	// Digest is the digest schedule (see ParseSchedule); nil: no digests.
	Digest cron.Schedule
	// Ticks remembers the latest digest tick enqueued, for catch-up.
	Ticks interface {
		LastDigestTick(ctx context.Context) (time.Time, error)
		AdvanceDigestTick(ctx context.Context, tick time.Time) error
	}
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Scheduler enqueues Convene's periodic jobs. It only enqueues: the work
// happens in the jobs. Any number of schedulers may run: each periodic
// task carries a TaskID per period (digest ticks keep theirs for a day
// after they ran), so replicas enqueue each period once; and a digest tick
// missed while no scheduler ran is enqueued, once, when one starts.
type Scheduler struct {
	cfg         SchedulerConfig
	cron        *cron.Cron
	digestEntry cron.EntryID
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
	if cfg.Digest != nil {
		s.digestEntry = s.cron.Schedule(cfg.Digest, cron.FuncJob(func() {
			// Prev is the time this run was scheduled for: the tick, the
			// same in every replica whatever its timer's jitter.
			s.enqueueDigest(s.cron.Entry(s.digestEntry).Prev)
		}))
	}
	return s, nil
}

// Run runs the scheduler until ctx ends, then waits for a running
// callback to return.
func (s *Scheduler) Run(ctx context.Context) error {
	s.cfg.Logger.Info("scheduler started", "sweep_interval", s.cfg.SweepInterval.String())
	s.enqueueSweep() // a restarted scheduler sweeps at once rather than an interval later
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	s.catchUp(startCtx)
	cancel()
	s.cron.Start()
	<-ctx.Done()
	<-s.cron.Stop().Done()
	s.cfg.Logger.Info("scheduler stopped")
	return nil
}

// catchUp enqueues the latest digest tick missed while no scheduler ran
// (one, however many were missed: each organiser's digest covers
// everything since their previous one).
func (s *Scheduler) catchUp(ctx context.Context) {
	if s.cfg.Digest == nil || s.cfg.Ticks == nil {
		return
	}
	now := s.cfg.Now()
	last, err := s.cfg.Ticks.LastDigestTick(ctx)
	if err != nil {
		s.cfg.Logger.Warn("cannot read the last digest tick; no catch-up", "error", err.Error())
		return
	}
	if last.IsZero() {
		// A first start: digests begin with the next tick.
		if err := s.cfg.Ticks.AdvanceDigestTick(ctx, now); err != nil {
			s.cfg.Logger.Warn("cannot record the digest start", "error", err.Error())
		}
		return
	}
	if tick, missed := LatestTick(s.cfg.Digest, last, now); missed {
		s.cfg.Logger.Info("catching up a missed digest tick", "tick", tick.UTC().Format(time.RFC3339), "last", last.UTC().Format(time.RFC3339))
		s.enqueueDigest(tick)
	}
}

func (s *Scheduler) enqueueDigest(tick time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	task, err := NewDigestTickTask(tick, "")
	if err == nil {
		err = enqueue(ctx, s.cfg.Enqueuer, task)
	}
	if err != nil {
		s.cfg.Logger.Warn("cannot enqueue digest tick", "tick", tick.UTC().Format(time.RFC3339), "error", err.Error())
	}
}

func (s *Scheduler) enqueueSweep() {
	period := s.cfg.Now().Truncate(s.cfg.SweepInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := enqueue(ctx, s.cfg.Enqueuer, NewSweepTask(period)); err != nil {
		s.cfg.Logger.Warn("cannot enqueue outbox sweep", "error", err.Error())
	}
}
