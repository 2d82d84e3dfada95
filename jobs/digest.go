package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"convene"
	"convene/store"
	"convene/templates"
)

// Task types of the digests (never renamed once deployed).
const (
	TypeDigestTick = "digest:tick" // a digest period's tick: enqueue one digest per organiser
	TypeDigest     = "digest:send" // one organiser's digest for one tick
)

// tickRetention keeps a finished tick task (and so its TaskID) for a day:
// a scheduler replica that fires late, or restarts and catches up, finds
// the tick taken instead of running it twice.
const tickRetention = 24 * time.Hour

// DigestStore is what the digest jobs need from storage.
type DigestStore interface {
	Meetings(ctx context.Context) ([]convene.Meeting, error)
	Reminders(ctx context.Context, meetingID string) ([]convene.Reminder, error)
	DigestState(ctx context.Context, orgID string) (store.DigestState, error)
	ClaimDigest(ctx context.Context, orgID string, tick time.Time, lockTTL time.Duration) (store.Claim, error)
	FinishDigest(ctx context.Context, orgID string, tick time.Time, marks map[string]store.Watermarks) error
	ReleaseDigest(ctx context.Context, orgID string) error
	ChangesSince(ctx context.Context, meetingID string, w store.Watermarks) (store.Changes, error)
	AdvanceDigestTick(ctx context.Context, tick time.Time) error
}

// DigestRenderer renders an organiser's digest.
type DigestRenderer interface {
	Digest(d templates.DigestData) (convene.Email, error)
}

type digestPayload struct {
	Tick      int64  `json:"t"`           // unix seconds
	Organiser string `json:"o,omitempty"` // organiser id; empty in a tick for everyone
}

// NewDigestTickTask returns the task of the digest tick at tick, for every
// organiser or, with orgID, for one. Its TaskID is the tick's, kept for a
// day after it ran, so any number of schedulers enqueue it once.
func NewDigestTickTask(tick time.Time, orgID string) (*asynq.Task, error) {
	id := "digest:tick:" + strconv.FormatInt(tick.Unix(), 10)
	if orgID != "" {
		id += ":" + orgID
	}
	return newTask(TypeDigestTick, digestPayload{Tick: tick.Unix(), Organiser: orgID},
		asynq.Queue(QueueDefault),
		asynq.TaskID(id),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(time.Minute),
		asynq.Retention(tickRetention),
	)
}

func newDigestTask(tick time.Time, orgID string) (*asynq.Task, error) {
	return newTask(TypeDigest, digestPayload{Tick: tick.Unix(), Organiser: orgID},
		asynq.Queue(QueueDefault),
		asynq.TaskID("digest:"+strconv.FormatInt(tick.Unix(), 10)+":"+orgID),
		asynq.MaxRetry(EmailMaxRetry),
		asynq.Timeout(EmailTaskTimeout),
	)
}

// ParseSchedule parses a DIGEST_SCHEDULE: five cron fields, or a
// descriptor such as @daily or @every 10s, in loc.
//
// robfig/cron counts "@every d" from whenever the scheduler started, so
// two replicas started a second apart would tick on different grids and
// each tick would be a different period. Here "@every d" ticks on the
// multiples of d since the Unix epoch instead: every replica computes the
// same ticks.
func ParseSchedule(spec string, loc *time.Location) (cron.Schedule, error) {
	if loc != nil {
		spec = "CRON_TZ=" + loc.String() + " " + spec
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		return alignedEvery(every.Delay), nil
	}
	return sched, nil
}

// alignedEvery ticks on the multiples of its duration since the epoch.
type alignedEvery time.Duration

// Next returns the first multiple of the duration after t.
func (a alignedEvery) Next(t time.Time) time.Time {
	d := time.Duration(a)
	return t.Truncate(d).Add(d)
}

// LatestTick returns the latest tick of sched after last and not after
// now, and false when there is none (nothing was missed).
func LatestTick(sched cron.Schedule, last, now time.Time) (time.Time, bool) {
	t := sched.Next(last)
	if t.IsZero() || t.After(now) {
		return time.Time{}, false
	}
	for i := 0; i < 1_000_000; i++ {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			return t, true
		}
		t = n
	}
	return now.Truncate(time.Second), true
}

// upcoming returns the meetings an organiser's digest covers: not
// cancelled, not over.
func upcoming(ms []convene.Meeting, tick time.Time) []convene.Meeting {
	var out []convene.Meeting
	for _, m := range ms {
		if m.Status == convene.MeetingScheduled && m.End().After(tick) {
			out = append(out, m)
		}
	}
	return out
}

// organisers maps organiser ids to their address and meetings.
func organisers(ms []convene.Meeting) map[string]struct {
	addr     string
	meetings []convene.Meeting
} {
	out := map[string]struct {
		addr     string
		meetings []convene.Meeting
	}{}
	for _, m := range ms {
		for _, o := range m.Organisers {
			id := store.OrganiserID(o)
			e := out[id]
			e.addr = o
			e.meetings = append(e.meetings, m)
			out[id] = e
		}
	}
	return out
}

// handleDigestTick enqueues one digest task per organiser of an upcoming
// meeting (or for the one organiser the tick names).
func (w *Worker) handleDigestTick(ctx context.Context, t *asynq.Task) error {
	var p digestPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Tick <= 0 {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	tick := time.Unix(p.Tick, 0)
	if err := w.Digests.AdvanceDigestTick(ctx, tick); err != nil {
		return err
	}
	ms, err := w.Digests.Meetings(ctx)
	if err != nil {
		return err
	}
	n := 0
	for id := range organisers(upcoming(ms, tick)) {
		if p.Organiser != "" && id != p.Organiser {
			continue
		}
		task, err := newDigestTask(tick, id)
		if err != nil {
			return err
		}
		if err := enqueue(ctx, w.Queue.Enqueuer, task); err != nil {
			return err
		}
		n++
	}
	loggerFrom(ctx, w.Logger).Info("digest tick", "tick", tick.UTC().Format(time.RFC3339), "organisers", n)
	return nil
}

// handleDigest sends one organiser's digest for one tick: what changed in
// their upcoming meetings since their previous digest (by watermarks, so
// each change lands in exactly one digest), or nothing when nothing did.
func (w *Worker) handleDigest(ctx context.Context, t *asynq.Task) error {
	var p digestPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Tick <= 0 || p.Organiser == "" {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	tick := time.Unix(p.Tick, 0)
	log := loggerFrom(ctx, w.Logger).With("organiser_id", p.Organiser, "tick", tick.UTC().Format(time.RFC3339))
	ms, err := w.Digests.Meetings(ctx)
	if err != nil {
		return err
	}
	org, ok := organisers(upcoming(ms, tick))[p.Organiser]
	if !ok {
		log.Info("digest skipped: no upcoming meetings")
		return nil
	}
	claim, err := w.Digests.ClaimDigest(ctx, p.Organiser, tick, w.LockTTL)
	if err != nil {
		return err
	}
	switch claim {
	case store.ClaimOK:
	case store.ClaimBusy:
		return errBusy
	default:
		log.Info("digest already handled", "ledger", string(claim))
		return nil
	}
	state, err := w.Digests.DigestState(ctx, p.Organiser)
	if err != nil {
		_ = w.Digests.ReleaseDigest(context.WithoutCancel(ctx), p.Organiser)
		return err
	}
	data := templates.DigestData{
		To:             org.addr,
		OrganiserID:    p.Organiser,
		Tick:           tick,
		Location:       w.DigestLocation,
		UnsubscribeURL: w.PublicURL + "/v1/digests/unsubscribe/" + w.Signer.Sign(convene.DigestTokenScope, p.Organiser),
	}
	marks := map[string]store.Watermarks{}
	sort.Slice(org.meetings, func(i, j int) bool { return org.meetings[i].StartsAt.Before(org.meetings[j].StartsAt) })
	for _, m := range org.meetings {
		c, err := w.Digests.ChangesSince(ctx, m.ID, state.Marks[m.ID])
		if err != nil {
			_ = w.Digests.ReleaseDigest(context.WithoutCancel(ctx), p.Organiser)
			return err
		}
		marks[m.ID] = c.Marks
		if c.Empty() {
			continue
		}
		dm := templates.DigestMeeting{
			Meeting: m, New: c.New, Cancelled: c.Cancelled, Bounced: c.Bounced,
			ExportURL: w.PublicURL + "/v1/meetings/" + m.ID + "/registrations?format=csv",
		}
		if next, ok := w.nextReminder(ctx, m, tick); ok {
			dm.NextReminder = &next
		}
		data.Meetings = append(data.Meetings, dm)
	}
	if len(data.Meetings) == 0 {
		log.Info("digest skipped: nothing changed")
		return w.Digests.FinishDigest(context.WithoutCancel(ctx), p.Organiser, tick, marks)
	}
	email, err := w.DigestRenderer.Digest(data)
	if err != nil {
		_ = w.Digests.ReleaseDigest(context.WithoutCancel(ctx), p.Organiser)
		return fmt.Errorf("render digest: %w", err)
	}
	if err := w.Sender.Send(ctx, email); err != nil {
		err = scrubAddress(err, org.addr)
		if convene.IsPermanent(err) {
			log.Warn("digest bounced", "error", err.Error())
			_ = w.Digests.FinishDigest(context.WithoutCancel(ctx), p.Organiser, tick, nil)
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		_ = w.Digests.ReleaseDigest(context.WithoutCancel(ctx), p.Organiser)
		return err
	}
	log.Info("digest sent", "meetings", len(data.Meetings))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisWriteTimeout)
	defer cancel()
	return w.Digests.FinishDigest(ctx, p.Organiser, tick, marks)
}

// nextReminder returns the next reminder of m due after now.
func (w *Worker) nextReminder(ctx context.Context, m convene.Meeting, now time.Time) (time.Time, bool) {
	rs := m.OffsetReminders()
	if extras, err := w.Digests.Reminders(ctx, m.ID); err == nil {
		rs = append(rs, extras...)
	}
	var next time.Time
	for _, r := range rs {
		if d := r.Due(m); d.After(now) && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next, !next.IsZero()
}

func scrubAddress(err error, addr string) error {
	return scrub(err, convene.Registration{Email: addr})
}
