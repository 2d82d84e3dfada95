package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// Polling intervals of the worker. asynq's defaults (1 s for new tasks,
// 5 s for scheduled and retry tasks) make an email wait seconds; these keep
// the wait to tens of milliseconds for a few hundred Redis commands per
// second per idle worker.
const (
	TaskCheckInterval        = 20 * time.Millisecond
	DelayedTaskCheckInterval = 200 * time.Millisecond
)

// ServerConfig returns the asynq server configuration of a worker process.
// shutdownTimeout must exceed the SMTP timeout, so a send in flight at
// SIGTERM finishes rather than being abandoned and re-run.
func ServerConfig(concurrency int, shutdownTimeout time.Duration, logger *slog.Logger) asynq.Config {
	return asynq.Config{
		Concurrency:              concurrency,
		Queues:                   Queues,
		TaskCheckInterval:        TaskCheckInterval,
		DelayedTaskCheckInterval: DelayedTaskCheckInterval,
		ShutdownTimeout:          shutdownTimeout,
		RetryDelayFunc:           RetryDelay,
		Logger:                   asynqLogger{logger},
		LogLevel:                 asynq.WarnLevel,
		// A busy ledger claim is not a failure of the task: do not count it.
		IsFailure: func(err error) bool { return !errors.Is(err, errBusy) },
	}
}

type loggerKey struct{}

func loggerFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// logJobs logs every job once it ends: type, task id, queue, attempt,
// outcome and duration, and gives handlers a logger carrying the task id.
func (w *Worker) logJobs(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		log := w.Logger.With("task_id", id, "task_type", t.Type(), "queue", queue, "attempt", retried+1)
		start := time.Now()
		err := next.ProcessTask(context.WithValue(ctx, loggerKey{}, log), t)
		outcome := "ok"
		switch {
		case err == nil:
		case errors.Is(err, asynq.SkipRetry):
			outcome = "failed_final"
		case errors.Is(err, errBusy):
			outcome = "busy"
		default:
			outcome = "failed_retry"
		}
		took := time.Since(start)
		w.Metrics.Job(t.Type(), outcome, took)
		attrs := []any{"outcome", outcome, "duration_ms", took.Milliseconds()}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
			log.Warn("job done", attrs...)
		} else {
			log.Info("job done", attrs...)
		}
		return err
	})
}

// asynqLogger routes asynq's own logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
