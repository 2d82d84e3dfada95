package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"convene"
)

// Task types. They are stored in Redis with every task: never rename one
// once deployed.
const (
	TypeEmail = "email:send"   // send one participant email (payload: convene.Message)
	TypeSweep = "outbox:sweep" // enqueue email intents whose job was never enqueued
)

// Queues and their weights: participant emails first.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Queues maps each queue to its priority weight for asynq.
var Queues = map[string]int{QueueCritical: 6, QueueDefault: 3, QueueLow: 1}

// Retry policy for emails: the first retry within a minute, doubling up to
// an hour apart, for about 24 hours in all (SPEC §4).
const (
	EmailMaxRetry     = 30
	EmailTaskTimeout  = 2 * time.Minute
	retryBase         = 30 * time.Second
	retryCap          = time.Hour
	busyRetryDelay    = 15 * time.Second
	sweepTaskTimeout  = time.Minute
	sweepBatch        = 1000
	redisWriteTimeout = 2 * time.Minute
)

// NewEmailTask returns the task that sends msg. Its TaskID is derived from
// the message, so enqueueing the same message twice while the first task
// exists is refused by asynq (and treated as success by Enqueue).
func NewEmailTask(msg convene.Message) (*asynq.Task, error) {
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("email task: %w", err)
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("email task: %w", err)
	}
	return asynq.NewTask(TypeEmail, payload,
		asynq.Queue(QueueCritical),
		asynq.TaskID(EmailTaskID(msg)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(EmailTaskTimeout),
	), nil
}

// EmailTaskID is the asynq TaskID of the task that sends msg.
func EmailTaskID(msg convene.Message) string {
	return "email:" + msg.MeetingID + ":" + msg.RegistrationID + ":" + msg.Kind + ":" + msg.Variant
}

// NewSweepTask returns the outbox sweep task for the period starting at
// period. The TaskID is per period, so replicas of the scheduler do not
// stack sweeps up, and a later period is never blocked by an earlier one.
func NewSweepTask(period time.Time) *asynq.Task {
	return asynq.NewTask(TypeSweep, nil,
		asynq.Queue(QueueDefault),
		asynq.TaskID("sweep:"+strconv.FormatInt(period.Unix(), 10)),
		asynq.MaxRetry(0),
		asynq.Timeout(sweepTaskTimeout),
	)
}

// RetryDelay is the worker's asynq RetryDelayFunc: 30 s doubling to one
// hour (with ±10 % jitter derived from the task id, so it is stable), and a
// short fixed delay when another run holds the message's ledger claim.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, errBusy) {
		return busyRetryDelay
	}
	d := retryCap
	if n < 7 {
		d = retryBase << n
	}
	if d > retryCap {
		d = retryCap
	}
	// Spread retries of many tasks failing at once (an SMTP outage).
	var h uint32
	for _, c := range []byte(t.Type()) {
		h = h*31 + uint32(c)
	}
	h = h*31 + uint32(n)
	jitter := time.Duration(int64(d) / 10 * (int64(h%201) - 100) / 100)
	return d + jitter
}

// Enqueuer is what enqueues tasks: *asynq.Client.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Queue enqueues Convene's jobs.
type Queue struct {
	Enqueuer Enqueuer
}

// EnqueueEmail enqueues the task that sends msg. A task for the same
// message that already exists is success: it will send it.
func (q Queue) EnqueueEmail(ctx context.Context, msg convene.Message) error {
	task, err := NewEmailTask(msg)
	if err != nil {
		return err
	}
	return enqueue(ctx, q.Enqueuer, task)
}

func enqueue(ctx context.Context, e Enqueuer, task *asynq.Task) error {
	_, err := e.EnqueueContext(ctx, task)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", task.Type(), err)
	}
	return nil
}
