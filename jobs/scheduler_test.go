package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene/internal/testredis"
	"convene/jobs"
	"convene/store"
)

func TestSchedulersCatchUpAMissedTickOnce(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	st := store.New(rdb)
	ctx := context.Background()
	last := time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC)
	if err := st.AdvanceDigestTick(ctx, last); err != nil {
		t.Fatal(err)
	}
	sched, _ := jobs.ParseSchedule("@every 10s", time.UTC)
	now := last.Add(95 * time.Second) // nine ticks were missed
	// Three scheduler replicas start at once after the gap.
	for range 3 {
		s, err := jobs.NewScheduler(jobs.SchedulerConfig{
			Enqueuer:      asynq.NewClientFromRedisClient(rdb),
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
			SweepInterval: time.Hour,
			Digest:        sched,
			Ticks:         st,
			Now:           func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		cancel() // Run catches up at start, then returns at once
		if err := s.Run(runCtx); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := asynq.NewInspectorFromRedisClient(rdb).ListPendingTasks(jobs.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	var ticks []string
	for _, task := range tasks {
		if task.Type == jobs.TypeDigestTick {
			ticks = append(ticks, task.ID)
		}
	}
	want := "digest:tick:" + strconv.FormatInt(last.Add(90*time.Second).Unix(), 10)
	if len(ticks) != 1 || ticks[0] != want {
		t.Fatalf("digest ticks enqueued: %v, want only %s", ticks, want)
	}
}
