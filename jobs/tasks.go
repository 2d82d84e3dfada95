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
	TypeEmail    = "email:send"         // send one participant email (payload: convene.Message)
	TypeSchedule = "reminders:schedule" // schedule the reminders of a meeting version
	TypeFanout   = "fanout:dispatch"    // split one email kind to many participants into batches
	TypeBatch    = "fanout:batch"       // send one email kind to a range of a meeting's registrations
	TypeSweep    = "outbox:sweep"       // enqueue intents whose job was never enqueued
	TypeNotices  = "notices:send"       // send a meeting's pending registration notices in batches
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
	BatchTaskTimeout  = 10 * time.Minute
	retryBase         = 30 * time.Second
	retryCap          = time.Hour
	busyRetryDelay    = 15 * time.Second
	sweepTaskTimeout  = time.Minute
	sweepBatch        = 1000
	redisWriteTimeout = 2 * time.Minute
	// BatchSize is how many registrations one fan-out batch covers.
	BatchSize = 100
	// NoticesBatch is how many registration notices a notices job takes,
	// claims and sends at a time.
	NoticesBatch = 50
	// reminderLead is how long before a reminder is due its dispatch task
	// is scheduled: asynq stores times in whole seconds and may run a task
	// up to a second early, and moves scheduled tasks to pending only
	// every DelayedTaskCheckInterval; the dispatch then waits for the
	// exact due time itself, so no reminder leaves early and none waits
	// for a poll.
	reminderLead = 1500 * time.Millisecond
)

func newTask(typ string, payload any, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s task: %w", typ, err)
	}
	return asynq.NewTask(typ, b, opts...), nil
}

// NewEmailTask returns the task that sends msg. Its TaskID is derived from
// the message, so enqueueing the same message twice while the first task
// exists is refused by asynq (and treated as success by Enqueue).
func NewEmailTask(msg convene.Message) (*asynq.Task, error) {
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("email task: %w", err)
	}
	return newTask(TypeEmail, msg,
		asynq.Queue(QueueCritical),
		asynq.TaskID(EmailTaskID(msg)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(EmailTaskTimeout),
	)
}

// EmailTaskID is the asynq TaskID of the task that sends msg.
func EmailTaskID(msg convene.Message) string {
	return "email:" + msg.MeetingID + ":" + msg.RegistrationID + ":" + msg.Kind + ":" + msg.Variant
}

// noticesPayload names the meeting whose notices a notices job sends.
// Nonce is the arrival number of the registration that started the sender,
// Run counts the runs it handed over to since.
type noticesPayload struct {
	MeetingID string `json:"m"`
	Nonce     string `json:"n"`
	Run       int    `json:"r,omitempty"`
}

// NewNoticesTask returns the task that sends the pending registration
// notices of a meeting, started by the registration with arrival number
// nonce (see store.Register).
func NewNoticesTask(meetingID, nonce string) (*asynq.Task, error) {
	return newNoticesTask(noticesPayload{MeetingID: meetingID, Nonce: nonce})
}

func newNoticesTask(p noticesPayload) (*asynq.Task, error) {
	if p.MeetingID == "" || p.Nonce == "" {
		return nil, fmt.Errorf("notices task: meeting and nonce are required")
	}
	return newTask(TypeNotices, p,
		asynq.Queue(QueueCritical),
		asynq.TaskID("notices:"+p.MeetingID+":"+p.Nonce+"."+strconv.Itoa(p.Run)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(BatchTaskTimeout),
	)
}

// schedulePayload names a meeting version whose reminders to schedule, and
// when that version came to be (a reminder already due then is not sent).
type schedulePayload struct {
	MeetingID string `json:"m"`
	Version   int    `json:"v"`
	At        int64  `json:"at"` // unix ms
}

// NewScheduleTask returns the task that schedules the reminders of a
// meeting version.
func NewScheduleTask(meetingID string, version int, at time.Time) (*asynq.Task, error) {
	return newTask(TypeSchedule, schedulePayload{MeetingID: meetingID, Version: version, At: at.UnixMilli()},
		asynq.Queue(QueueCritical),
		asynq.TaskID("schedule:"+meetingID+":v"+strconv.Itoa(version)+":"+strconv.FormatInt(at.UnixMilli(), 10)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(time.Minute),
	)
}

// NewFanoutTask returns the dispatch task of a fan-out, to run at runAt
// (zero: now).
func NewFanoutTask(f convene.Fanout, runAt time.Time) (*asynq.Task, error) {
	opts := []asynq.Option{
		asynq.Queue(QueueCritical),
		asynq.TaskID(FanoutTaskID(f)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(EmailTaskTimeout),
	}
	if !runAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(runAt))
	}
	return newTask(TypeFanout, f, opts...)
}

// FanoutTaskID is the asynq TaskID of a fan-out's dispatch task.
func FanoutTaskID(f convene.Fanout) string {
	return "fanout:" + f.MeetingID + ":" + f.Kind + ":" + f.Variant
}

// batchPayload is one batch of a fan-out: the registrations whose arrival
// numbers are in [From, To].
type batchPayload struct {
	convene.Fanout
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

func newBatchTask(b batchPayload) (*asynq.Task, error) {
	return newTask(TypeBatch, b,
		asynq.Queue(QueueCritical),
		asynq.TaskID("batch:"+b.MeetingID+":"+b.Kind+":"+b.Variant+":"+strconv.FormatInt(b.From, 10)),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(BatchTaskTimeout),
	)
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
// hour (with ±10 % jitter derived from the task, so it is stable), and a
// short fixed delay when another run holds a message's ledger claim.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, errBusy) {
		return busyRetryDelay
	}
	d := retryCap
	if n < 7 {
		d = min(retryBase<<n, retryCap)
	}
	// Spread retries of many tasks failing at once (an SMTP outage).
	var h uint32
	for _, c := range t.Payload() {
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
	// Tasks deletes tasks that are no longer wanted; nil: they are left to
	// find out by themselves (every handler checks the state).
	Tasks TaskDeleter
}

// ForgetMessages deletes the email tasks of msgs (an erased registration's:
// pending, retrying or archived), best effort.
func (q Queue) ForgetMessages(msgs []convene.Message) {
	if q.Tasks == nil {
		return
	}
	for _, m := range msgs {
		_ = q.Tasks.DeleteTask(QueueCritical, EmailTaskID(m))
	}
}

// ForgetReminders deletes the scheduled reminder tasks of a meeting
// version, best effort: a reminder task that escapes finds out at its time
// that it is stale and sends nothing.
func (q Queue) ForgetReminders(meetingID string, reminderIDs []string, version int) {
	if q.Tasks == nil {
		return
	}
	for _, id := range reminderIDs {
		f := convene.Fanout{MeetingID: meetingID, Kind: convene.EmailReminder, Variant: convene.ReminderVariant(id, version)}
		_ = q.Tasks.DeleteTask(QueueCritical, FanoutTaskID(f))
	}
}

// Enqueue enqueues the job an intent calls for. A task for the same work
// that already exists is success: it will do it.
func (q Queue) Enqueue(ctx context.Context, in convene.Intent) error {
	var (
		task *asynq.Task
		err  error
	)
	switch in.Type {
	case convene.IntentEmail:
		task, err = NewEmailTask(in.Message())
	case convene.IntentFanout:
		task, err = NewFanoutTask(in.Fanout(), time.Time{})
	case convene.IntentNotices:
		task, err = NewNoticesTask(in.MeetingID, in.Variant)
	case convene.IntentSchedule:
		v, perr := strconv.Atoi(in.Variant)
		if perr != nil {
			return fmt.Errorf("schedule intent with version %q: %w", in.Variant, perr)
		}
		task, err = NewScheduleTask(in.MeetingID, v, in.At)
	default:
		return fmt.Errorf("unknown intent type %q", in.Type)
	}
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
