package jobs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/internal/smtpsink"
	"convene/jobs"
)

// dispatch does what the web process does after a change: enqueue the
// intents' jobs and drop them from the outbox.
func (b *bundle) dispatch(intents []convene.Intent) {
	b.t.Helper()
	for _, in := range intents {
		if err := b.worker.Queue.Enqueue(b.ctx, in); err != nil {
			b.t.Fatal(err)
		}
		if err := b.store.Done(b.ctx, in); err != nil {
			b.t.Fatal(err)
		}
	}
}

// createMeeting creates a meeting starting at starts with the given
// reminder offsets, and dispatches its intents.
func (b *bundle) createMeeting(id string, starts time.Time, capacity int, reminders ...string) convene.Meeting {
	b.t.Helper()
	s, tz := starts.UTC().Format(time.RFC3339Nano), "UTC"
	title := "Meeting " + id
	in := convene.MeetingInput{ID: &id, Title: &title, StartsAt: &s, Timezone: &tz, Capacity: &capacity, Reminders: &reminders}
	m, err := convene.NewMeeting(in, nil, time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	intents, err := b.store.CreateMeeting(b.ctx, m)
	if err != nil {
		b.t.Fatal(err)
	}
	b.dispatch(intents)
	return m
}

func (b *bundle) registerN(meetingID string, n int) []convene.Registration {
	b.t.Helper()
	var out []convene.Registration
	for i := range n {
		r, err := convene.NewRegistration(meetingID, convene.RegistrationInput{Name: fmt.Sprintf("P %d", i), Email: fmt.Sprintf("p%d-%s@example.org", i, meetingID)}, time.Now())
		if err != nil {
			b.t.Fatal(err)
		}
		r, intents, err := b.store.Register(b.ctx, r)
		if err != nil {
			b.t.Fatal(err)
		}
		b.dispatch(intents)
		out = append(out, r)
	}
	return out
}

func (b *bundle) move(id string, starts time.Time) {
	b.t.Helper()
	old, err := b.store.Meeting(b.ctx, id)
	if err != nil {
		b.t.Fatal(err)
	}
	s := starts.UTC().Format(time.RFC3339Nano)
	u, moved, err := old.Update(convene.MeetingInput{StartsAt: &s}, time.Now())
	if err != nil || !moved {
		b.t.Fatalf("update: %v moved=%v", err, moved)
	}
	intents, err := b.store.UpdateMeeting(b.ctx, old, u, moved)
	if err != nil {
		b.t.Fatal(err)
	}
	b.dispatch(intents)
	var ids []string
	for _, r := range old.OffsetReminders() {
		ids = append(ids, r.ID)
	}
	b.worker.Queue.ForgetReminders(id, ids, old.Version)
}

func kinds(msgs []smtpsink.Message, kind string) []smtpsink.Message {
	var out []smtpsink.Message
	for _, m := range msgs {
		if m.Header("X-Convene-Kind") == kind {
			out = append(out, m)
		}
	}
	return out
}

// waitKind waits until n emails of kind arrived.
func (b *bundle) waitKind(kind string, n int, timeout time.Duration) []smtpsink.Message {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := kinds(b.sink.Messages(), kind)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d %s emails after %v, want %d; logs:\n%s", len(got), kind, timeout, n, b.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// atMostUntil asserts that no more than n emails of kind arrive before
// until (the moment more would have arrived if a rule broke).
func (b *bundle) atMostUntil(kind string, n int, until time.Time) {
	b.t.Helper()
	for time.Now().Before(until) {
		if got := kinds(b.sink.Messages(), kind); len(got) > n {
			b.t.Fatalf("%d %s emails (want at most %d), the last to %v at %s; logs:\n%s", len(got), kind, n, got[len(got)-1].To, got[len(got)-1].Received.Format(time.RFC3339Nano), b.logs)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// observed records when each reminder was due and when it was sent.
type observed struct {
	mu   sync.Mutex
	late []time.Duration
}

func (b *bundle) observe() *observed {
	o := &observed{}
	b.worker.Observe = func(msg convene.Message, due, sent time.Time) {
		if msg.Kind == convene.EmailReminder {
			o.mu.Lock()
			o.late = append(o.late, sent.Sub(due))
			o.mu.Unlock()
		}
	}
	return o
}

func TestReminderIsSentOnTimeOnceToConfirmedParticipants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.observe()
	starts := time.Now().Add(4 * time.Second)
	b.createMeeting("m1", starts, 2, "2s")
	b.registerN("m1", 3) // two confirmed, one waitlisted
	b.serve()
	due := starts.Add(-2 * time.Second)
	got := b.waitKind("reminder", 2, 10*time.Second)
	for _, m := range got {
		if m.Received.Before(due) {
			t.Fatalf("reminder arrived %v before it was due", due.Sub(m.Received))
		}
		if late := m.Received.Sub(due); late > 2*time.Second {
			t.Fatalf("reminder arrived %v late", late)
		}
	}
	b.atMostUntil("reminder", 2, starts)
	if n := len(kinds(b.sink.Messages(), "reminder")); n != 2 {
		t.Fatalf("%d reminders, want 2 (the waitlisted participant gets none)", n)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.late {
		if l < 0 {
			t.Fatalf("a reminder was handed to SMTP %v early", -l)
		}
	}
}

func TestReminderWaitsForTheWallClockWhenNTPSetsItBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.observe()
	starts := time.Now().Add(5 * time.Second)
	due := starts.Add(-2 * time.Second)
	// The worker's wall clock is set back by 400 ms 100 ms before the
	// reminder is due: after the dispatch started waiting for it (it starts
	// up to 1.5 s ahead) on a timer, which runs on the monotonic clock.
	const setBack = 400 * time.Millisecond
	b.worker.Now = func() time.Time {
		now := time.Now()
		if now.After(due.Add(-100 * time.Millisecond)) {
			return now.Add(-setBack)
		}
		return now
	}
	b.createMeeting("m1", starts, 0, "2s")
	b.registerN("m1", 2)
	b.serve()
	b.waitKind("reminder", 2, 10*time.Second)
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.late) != 2 {
		t.Fatalf("%d reminders observed, want 2", len(o.late))
	}
	for _, l := range o.late {
		if l < 0 {
			t.Errorf("a reminder was handed to SMTP %v early by the worker's (set back) clock", -l)
		}
	}
	// The dispatch waited for the wall clock: no batch found itself early
	// and had to wait for a retry.
	if strings.Contains(b.logs.String(), "before its reminder was due") {
		t.Errorf("a batch ran before its reminder was due by the worker's clock; logs:\n%s", b.logs)
	}
}

func TestMovedMeetingSendsNothingAtTheOldTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := time.Now().Add(4 * time.Second)
	b.createMeeting("m1", starts, 0, "2s")
	b.registerN("m1", 2)
	b.serve()
	newStarts := starts.Add(3 * time.Second)
	b.move("m1", newStarts)
	updates := b.waitKind("updated", 2, 10*time.Second)
	if cal, ok := updates[0].Part("text/calendar"); !ok || !strings.Contains(string(cal.Body), "SEQUENCE:2") || !strings.Contains(string(cal.Body), "UID:m1@convene.test") {
		t.Fatalf("update calendar: %s", cal.Body)
	}
	b.atMostUntil("reminder", 0, newStarts.Add(-2*time.Second)) // nothing at the old time
	got := b.waitKind("reminder", 2, 5*time.Second)
	for _, m := range got {
		if m.Received.Before(newStarts.Add(-2 * time.Second)) {
			t.Fatal("reminder before its new time")
		}
	}
	b.atMostUntil("reminder", 2, newStarts)
	if n := len(kinds(b.sink.Messages(), "reminder")); n != 2 {
		t.Fatalf("%d reminders after a move, want 2", n)
	}
}

func TestCancelledMeetingSendsNoReminderAndOneCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := time.Now().Add(4 * time.Second)
	b.createMeeting("m1", starts, 1, "2s")
	b.registerN("m1", 2) // one confirmed, one waitlisted
	b.serve()
	for range 2 {
		intents, err := b.store.CancelMeeting(b.ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		b.dispatch(intents)
	}
	cancelled := b.waitKind("cancelled", 2, 10*time.Second)
	for _, m := range cancelled {
		if cal, ok := m.Part("text/calendar"); !ok || !strings.Contains(string(cal.Body), "METHOD:CANCEL") {
			t.Fatalf("cancellation without METHOD:CANCEL: %s", cal.Body)
		}
	}
	b.atMostUntil("reminder", 0, starts)
	if n := len(kinds(b.sink.Messages(), "cancelled")); n != 2 {
		t.Fatalf("%d cancellations after cancelling twice, want 2", n)
	}
	_, _, err := b.store.Register(b.ctx, b.registration("m1", "late@example.org"))
	if convene.ErrorCode(err) != convene.ECONFLICT {
		t.Fatalf("registering for a cancelled meeting: %v", err)
	}
}

func TestLateRegistrantGetsNoPassedReminder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := time.Now().Add(3 * time.Second)
	b.createMeeting("m1", starts, 0, "2s", "1s")
	b.serve()
	b.registerN("m1", 1)
	due1 := starts.Add(-time.Second)
	// Register a second participant after the first reminder was due.
	for time.Now().Before(starts.Add(-2 * time.Second).Add(100 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond) // waiting for a point in time
	}
	late, intents, err := b.store.Register(b.ctx, b.registration("m1", "late@example.org"))
	if err != nil || len(intents) == 0 {
		t.Fatalf("late registration: %v", err)
	}
	b.dispatch(intents)
	_ = late
	b.waitKind("reminder", 3, 6*time.Second) // first: 2 reminders, late: 1 (the 1s one)
	b.atMostUntil("reminder", 3, starts)
	msgs := kinds(b.sink.Messages(), "reminder")
	if len(msgs) != 3 {
		t.Fatalf("%d reminders, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.To[0] == "p0-m1@example.org" {
			continue
		}
		if m.Received.Before(due1) {
			t.Fatalf("the late registrant got the reminder that was due before they registered")
		}
	}
}

func TestWorkerDownAtReminderTimeSendsOnceLater(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := time.Now().Add(7 * time.Second)
	b.createMeeting("m1", starts, 0, "4s") // due in 3 s: its dispatch task waits in the scheduled state
	b.registerN("m1", 2)
	// The schedule job runs on a first worker that then goes away.
	b.serveUntil(func() bool { return b.scheduled() == 1 })
	for time.Now().Before(starts.Add(-4 * time.Second).Add(500 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond) // the worker is down past the due time
	}
	b.serve()
	b.waitKind("reminder", 2, 5*time.Second)
	b.atMostUntil("reminder", 2, starts)
}

func TestCapacityIncreasePromotesInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting("m1", time.Now().Add(time.Hour), 1)
	regs := b.registerN("m1", 4)
	b.serve()
	b.waitKind("waitlisted", 3, 10*time.Second)
	old, _ := b.store.Meeting(b.ctx, "m1")
	capacity := 3
	u, moved, err := old.Update(convene.MeetingInput{Capacity: &capacity}, time.Now())
	if err != nil || moved {
		t.Fatalf("%v %v", err, moved)
	}
	intents, err := b.store.UpdateMeeting(b.ctx, old, u, moved)
	if err != nil {
		t.Fatal(err)
	}
	b.dispatch(intents)
	promoted := b.waitKind("promoted", 2, 10*time.Second)
	got := map[string]bool{}
	for _, m := range promoted {
		got[m.Header("X-Convene-Registration")] = true
	}
	if !got[regs[1].ID] || !got[regs[2].ID] || got[regs[3].ID] {
		t.Fatalf("promoted %v, want the first two on the waiting list", got)
	}
	last, _ := b.store.Registration(b.ctx, "m1", regs[3].ID)
	if last.Status != convene.StatusWaitlisted || last.Position != 1 {
		t.Fatalf("the fourth: %s position %d", last.Status, last.Position)
	}
	if _, ok := promoted[0].Part("text/calendar"); !ok {
		t.Fatal("a promotion without a calendar entry")
	}
}

func TestParticipantCancelPromotesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting("m1", time.Now().Add(time.Hour), 1)
	regs := b.registerN("m1", 2)
	b.serve()
	for range 2 {
		_, intents, err := b.store.CancelRegistration(b.ctx, "m1", regs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		b.dispatch(intents)
	}
	b.waitKind("cancelled", 1, 10*time.Second)
	b.waitKind("promoted", 1, 10*time.Second)
	m, _ := b.store.Meeting(b.ctx, "m1")
	if m.Counts != (convene.Counts{Confirmed: 1, Cancelled: 1}) {
		t.Fatalf("counts %+v", m.Counts)
	}
	// The same address may register again: a new registration, waitlisted.
	again := b.registration("m1", regs[0].Email)
	again, intents, err := b.store.Register(b.ctx, again)
	if err != nil || len(intents) == 0 || again.ID == regs[0].ID || again.Status != convene.StatusWaitlisted {
		t.Fatalf("register again: %+v %v %v", again, intents, err)
	}
	if n := len(kinds(b.sink.Messages(), "cancelled")); n != 1 {
		t.Fatalf("%d cancellation emails after cancelling twice", n)
	}
}

func TestFanoutRetryResendsOnlyWhatWasNotSent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting("m1", time.Now().Add(time.Hour), 0)
	b.registerN("m1", 250)
	b.serve()
	b.waitKind("confirmation", 250, 30*time.Second)
	// The SMTP server fails a few messages in the middle of the fan-out.
	b.sink.SetFault(smtpsink.Fault{Code: 451, Times: 3})
	intents, err := b.store.CancelMeeting(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	b.dispatch(intents)
	got := b.waitKind("cancelled", 250, 30*time.Second)
	seen := map[string]int{}
	for _, m := range got {
		seen[m.To[0]]++
	}
	for addr, n := range seen {
		if n != 1 {
			t.Fatalf("%s got %d cancellations", addr, n)
		}
	}
	if len(seen) != 250 {
		t.Fatalf("%d participants told, want 250", len(seen))
	}
}

func TestExtraReminderCarriesItsMessageAsPlainText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := time.Now().Add(time.Hour)
	m := b.createMeeting("m1", starts, 0)
	b.registerN("m1", 1)
	b.serve()
	sendAt := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	rem, err := convene.NewReminder(m, convene.ReminderInput{SendAt: &sendAt, Subject: "Bring your passport", Message: "Line one <script>x</script>\n{{.Link}}"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	intents, err := b.store.AddReminder(b.ctx, "m1", rem)
	if err != nil {
		t.Fatal(err)
	}
	b.dispatch(intents)
	got := b.waitKind("reminder", 1, 10*time.Second)[0]
	if got.Received.Before(rem.DueAt) {
		t.Fatal("extra reminder early")
	}
	if !strings.Contains(got.Header("Subject"), "Bring your passport") {
		t.Fatalf("subject %q", got.Header("Subject"))
	}
	text, _ := got.Part("text/plain")
	html, _ := got.Part("text/html")
	if !strings.Contains(string(text.Body), "Line one <script>x</script>") || !strings.Contains(string(text.Body), "{{.Link}}") {
		t.Fatalf("text part: %s", text.Body)
	}
	if strings.Contains(string(html.Body), "<script>") || !strings.Contains(string(html.Body), "&lt;script&gt;") {
		t.Fatalf("HTML part does not escape the message: %s", html.Body)
	}
}

func TestDeletedExtraReminderIsNotSent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.createMeeting("m1", time.Now().Add(time.Hour), 0)
	b.registerN("m1", 1)
	b.serve()
	before := time.Until(m.StartsAt) - 1500*time.Millisecond
	bs := before.String()
	rem, err := convene.NewReminder(m, convene.ReminderInput{Before: &bs}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	intents, err := b.store.AddReminder(b.ctx, "m1", rem)
	if err != nil {
		t.Fatal(err)
	}
	b.dispatch(intents)
	if err := b.store.DeleteReminder(b.ctx, "m1", rem.ID); err != nil {
		t.Fatal(err)
	}
	b.atMostUntil("reminder", 0, rem.DueAt.Add(time.Second))
}

// A meeting cancelled or moved while the worker is down, after its
// reminder's dispatch task fell due, by a web process that died before it
// could enqueue the change's jobs and delete that task: the task escapes
// deletion, and when the worker comes back it must find the meeting
// changed and send nothing. The sweep then sends what the change calls for.
func TestMeetingChangedWhileTheWorkerIsDownSendsNoStaleReminder(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"cancelled", "moved"} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.worker.SweepAge = 0
			starts := time.Now().Add(8 * time.Second)
			m := b.createMeeting("m1", starts, 0, "4s") // due in 4 s: its dispatch task in 2.5 s
			b.registerN("m1", 2)
			// The schedule job runs on a worker that then goes away.
			b.serveUntil(func() bool { return b.scheduled() == 1 })
			due := starts.Add(-4 * time.Second)
			for time.Now().Before(due.Add(300 * time.Millisecond)) {
				time.Sleep(10 * time.Millisecond) // the worker is down past the due time
			}

			newStarts := starts.Add(4 * time.Second) // its reminder is due at the old start
			switch change {
			case "cancelled":
				if _, err := b.store.CancelMeeting(b.ctx, "m1"); err != nil {
					t.Fatal(err)
				}
			case "moved":
				old, err := b.store.Meeting(b.ctx, "m1")
				if err != nil {
					t.Fatal(err)
				}
				s := newStarts.UTC().Format(time.RFC3339Nano)
				u, moved, err := old.Update(convene.MeetingInput{StartsAt: &s}, time.Now())
				if err != nil || !moved {
					t.Fatalf("update: %v moved=%v", err, moved)
				}
				if _, err := b.store.UpdateMeeting(b.ctx, old, u, moved); err != nil {
					t.Fatal(err)
				}
			}
			// The old version's dispatch task is still there, due.
			insp := asynq.NewInspectorFromRedisClient(b.redis.Client(t))
			stale := jobs.FanoutTaskID(convene.Fanout{MeetingID: "m1", Kind: convene.EmailReminder, Variant: convene.ReminderVariant(m.OffsetReminders()[0].ID, 1)})
			if info, err := insp.GetTaskInfo(jobs.QueueCritical, stale); err != nil || info.State != asynq.TaskStateScheduled {
				t.Fatalf("the stale reminder task: %+v %v, want it scheduled", info, err)
			}

			// The worker comes back and runs the stale task first.
			b.serve()
			deadline := time.Now().Add(15 * time.Second)
			for {
				if _, err := insp.GetTaskInfo(jobs.QueueCritical, stale); errors.Is(err, asynq.ErrTaskNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the stale reminder task did not run; logs:\n%s", b.logs)
				}
				time.Sleep(10 * time.Millisecond) // polling interval
			}
			// The sweep enqueues what the dead web process did not.
			if err := b.mux.ProcessTask(b.ctx, jobs.NewSweepTask(time.Now())); err != nil {
				t.Fatal(err)
			}
			switch change {
			case "cancelled":
				b.waitKind("cancelled", 2, 10*time.Second)
				b.atMostUntil("reminder", 0, starts.Add(500*time.Millisecond))
			case "moved":
				b.waitKind("updated", 2, 10*time.Second)
				b.atMostUntil("reminder", 0, starts) // nothing before the new due time
				for _, msg := range b.waitKind("reminder", 2, 5*time.Second) {
					if msg.Received.Before(starts) {
						t.Fatalf("a reminder at %s, before its new time %s", msg.Received.Format(time.RFC3339Nano), starts.Format(time.RFC3339Nano))
					}
				}
				b.atMostUntil("reminder", 2, newStarts)
			}
		})
	}
}
