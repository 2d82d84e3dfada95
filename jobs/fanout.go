package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/store"
	"convene/templates"
)

// handleSchedule schedules the reminders of a meeting version: one
// dispatch task per reminder, due at its time, with a TaskID derived from
// the reminder and the version. Reminders already due when the version
// came to be are not scheduled (no late blast), and the tasks of the
// previous version are deleted (their handler would skip them anyway).
func (w *Worker) handleSchedule(ctx context.Context, t *asynq.Task) error {
	var p schedulePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MeetingID == "" {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", p.MeetingID, "version", p.Version)
	m, err := w.Store.Meeting(ctx, p.MeetingID)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if m.Status != convene.MeetingScheduled || m.Version != p.Version {
		log.Info("schedule skipped: meeting cancelled or moved again", "current_version", m.Version)
		return nil
	}
	extras, err := w.Store.Reminders(ctx, m.ID)
	if err != nil {
		return err
	}
	at := time.UnixMilli(p.At)
	scheduled := 0
	for _, r := range append(m.OffsetReminders(), extras...) {
		if w.Tasks != nil && m.Version > 1 {
			old := convene.Fanout{MeetingID: m.ID, Kind: convene.EmailReminder, Variant: convene.ReminderVariant(r.ID, m.Version-1)}
			_ = w.Tasks.DeleteTask(QueueCritical, FanoutTaskID(old)) // best effort: a stale task is a no-op
		}
		due := r.Due(m)
		if !due.After(at) {
			continue
		}
		f := convene.Fanout{MeetingID: m.ID, Kind: convene.EmailReminder, Variant: convene.ReminderVariant(r.ID, m.Version)}
		task, err := NewFanoutTask(f, due.Add(-reminderLead))
		if err != nil {
			return err
		}
		if err := enqueue(ctx, w.Queue.Enqueuer, task); err != nil {
			return err
		}
		scheduled++
	}
	log.Info("reminders scheduled", "count", scheduled)
	return nil
}

// fanoutPlan is what a fan-out sends and to whom, as of now.
type fanoutPlan struct {
	meeting  convene.Meeting
	due      time.Time // not before then (reminders); zero: now
	audience func(convene.Registration) bool
	data     func(convene.Registration) templates.Data
}

// plan checks that a fan-out is still wanted and says what it sends. A
// reason is returned when it is not wanted any more: the meeting moved
// again, was cancelled, the reminder was deleted, the meeting started.
func (w *Worker) plan(ctx context.Context, f convene.Fanout) (*fanoutPlan, string, error) {
	m, err := w.Store.Meeting(ctx, f.MeetingID)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		return nil, "meeting no longer exists", nil
	} else if err != nil {
		return nil, "", err
	}
	p := &fanoutPlan{meeting: m}
	base := func(r convene.Registration) templates.Data {
		return templates.Data{
			Meeting: m, Registration: r, Now: m.UpdatedAt,
			Message: convene.Message{MeetingID: m.ID, RegistrationID: r.ID, Kind: f.Kind, Variant: f.Variant},
		}
	}
	switch f.Kind {
	case convene.EmailReminder:
		id, version, ok := convene.ParseReminderVariant(f.Variant)
		if !ok {
			return nil, "", fmt.Errorf("bad reminder variant %q: %w", f.Variant, asynq.SkipRetry)
		}
		if m.Status != convene.MeetingScheduled {
			return nil, "meeting cancelled", nil
		}
		if m.Version != version {
			return nil, "meeting moved since the reminder was scheduled", nil
		}
		rem, found := convene.Reminder{}, false
		for _, r := range m.OffsetReminders() {
			if r.ID == id {
				rem, found = r, true
			}
		}
		if !found {
			rem, err = w.Store.Reminder(ctx, m.ID, id)
			if convene.ErrorCode(err) == convene.ENOTFOUND {
				return nil, "reminder deleted", nil
			} else if err != nil {
				return nil, "", err
			}
		}
		if !w.Now().Before(m.StartsAt) {
			return nil, "meeting has started", nil
		}
		due := rem.Due(m)
		p.due = due
		p.audience = func(r convene.Registration) bool {
			return r.Status == convene.StatusConfirmed && r.CreatedAt.Before(due)
		}
		p.data = func(r convene.Registration) templates.Data {
			d := base(r)
			d.Now, d.ReminderSubject, d.ReminderMessage = due, rem.Subject, rem.Message
			return d
		}
	case convene.EmailUpdated:
		if m.Status != convene.MeetingScheduled {
			return nil, "meeting cancelled", nil
		}
		if convene.UpdateVariant(m.Version) != f.Variant {
			return nil, "meeting moved again: the newer update tells", nil
		}
		prev, movedAt, err := w.Store.Previous(ctx, m.ID)
		if err != nil {
			return nil, "", err
		}
		p.audience = func(r convene.Registration) bool {
			return r.Status == convene.StatusConfirmed && r.CreatedAt.Before(movedAt)
		}
		p.data = func(r convene.Registration) templates.Data {
			d := base(r)
			d.Previous = prev
			return d
		}
	case convene.EmailCancelled:
		if m.Status != convene.MeetingCancelled {
			return nil, "meeting is not cancelled", nil
		}
		p.audience = func(r convene.Registration) bool {
			return r.Status == convene.StatusConfirmed || r.Status == convene.StatusWaitlisted
		}
		p.data = func(r convene.Registration) templates.Data {
			d := base(r)
			d.MeetingCancelled = true
			return d
		}
	default:
		return nil, "", fmt.Errorf("no fan-out for kind %q: %w", f.Kind, asynq.SkipRetry)
	}
	return p, "", nil
}

// handleFanout splits a fan-out into batches of BatchSize registrations by
// arrival number, and enqueues one task per batch. For a reminder it first
// waits for the exact due time, so no reminder leaves early.
func (w *Worker) handleFanout(ctx context.Context, t *asynq.Task) error {
	var f convene.Fanout
	if err := json.Unmarshal(t.Payload(), &f); err != nil || f.MeetingID == "" || f.Kind == "" {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", f.MeetingID, "kind", f.Kind, "variant", f.Variant)
	p, skip, err := w.plan(ctx, f)
	if err != nil {
		return err
	}
	if skip != "" {
		log.Info("fan-out skipped: " + skip)
		return nil
	}
	// A timer runs on the monotonic clock; the due time is on the wall
	// clock, which NTP may set back while the timer runs. So wait again
	// until the wall clock, too, says the reminder is due.
	for wait := p.due.Sub(w.Now()); wait > 0; wait = p.due.Sub(w.Now()) {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	last, err := w.Store.LastSeq(ctx, f.MeetingID)
	if err != nil {
		return err
	}
	batches := 0
	for from := int64(1); from <= last; from += BatchSize {
		task, err := newBatchTask(batchPayload{Fanout: f, From: from, To: from + BatchSize - 1})
		if err != nil {
			return err
		}
		if err := enqueue(ctx, w.Queue.Enqueuer, task); err != nil {
			return err
		}
		batches++
	}
	log.Info("fan-out dispatched", "batches", batches, "registrations", last)
	return nil
}

// handleBatch sends a fan-out's email to the registrations of one batch
// that are in its audience and have not had it yet (the ledger is checked
// and claimed for the whole batch in one round trip). A retried batch
// sends only what was not sent.
func (w *Worker) handleBatch(ctx context.Context, t *asynq.Task) error {
	var b batchPayload
	if err := json.Unmarshal(t.Payload(), &b); err != nil || b.MeetingID == "" || b.From <= 0 || b.To < b.From {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", b.MeetingID, "kind", b.Kind, "variant", b.Variant, "from", b.From)
	p, skip, err := w.plan(ctx, b.Fanout)
	if err != nil {
		return err
	}
	if skip != "" {
		log.Info("batch skipped: " + skip)
		return nil
	}
	if w.Now().Before(p.due) {
		return fmt.Errorf("batch ran before its reminder was due")
	}
	regs, err := w.Store.RegistrationsBySeq(ctx, b.MeetingID, b.From, b.To)
	if err != nil {
		return err
	}
	var targets []convene.Registration
	var ids []string
	for _, r := range regs {
		if p.audience(r) {
			targets = append(targets, r)
			ids = append(ids, r.ID)
		}
	}
	claims, err := w.Store.ClaimMessages(ctx, b.MeetingID, ids, b.Kind, b.Variant, w.LockTTL)
	if err != nil {
		return err
	}
	sent, busy := 0, false
	for i, r := range targets {
		switch claims[i] {
		case store.ClaimBusy:
			busy = true
			continue
		case store.ClaimOK:
		default:
			continue
		}
		err := w.deliver(ctx, log.With("registration_id", r.ID), p.data(r), p.due)
		switch {
		case err == nil:
			sent++
		case convene.IsPermanent(err):
		default:
			// The server (or Redis) fails now: give back the claims not
			// tried yet and let the whole batch retry later; what was
			// sent stays sent.
			w.release(ctx, b.Fanout, targets[i+1:], claims[i+1:])
			return fmt.Errorf("batch from %d: %w", b.From, err)
		}
	}
	log.Info("batch done", "sent", sent, "targets", len(targets))
	if busy {
		return errBusy
	}
	return nil
}

func (w *Worker) release(ctx context.Context, f convene.Fanout, regs []convene.Registration, claims []store.Claim) {
	for i, r := range regs {
		if claims[i] == store.ClaimOK {
			msg := convene.Message{MeetingID: f.MeetingID, RegistrationID: r.ID, Kind: f.Kind, Variant: f.Variant}
			if err := w.finish(ctx, msg, store.OutcomeRetry, ""); err != nil {
				w.Logger.Warn("cannot release claim", "error", err.Error(), "registration_id", r.ID)
			}
		}
	}
}
