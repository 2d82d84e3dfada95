package jobs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/internal/pending"
	"convene/internal/smtpsink"
	"convene/jobs"
	"convene/store"
)

// registerMany creates a meeting of the given capacity and registers n
// participants, dispatching their intents as the web process does.
func (b *bundle) registerMany(meetingID string, capacity, n int) []convene.Registration {
	b.t.Helper()
	b.createMeeting(meetingID, time.Now().Add(72*time.Hour), capacity)
	return b.registerN(meetingID, n)
}

// waitFor polls cond until it holds, failing after timeout.
func (b *bundle) waitFor(timeout time.Duration, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %v; logs:\n%s", what, timeout, b.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// byID returns the registration of regs with that id.
func byID(t *testing.T, regs []convene.Registration, id string) convene.Registration {
	t.Helper()
	for _, r := range regs {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no registration %s", id)
	return convene.Registration{}
}

// jobRuns counts the logged runs of jobs of type typ.
func (b *bundle) jobRuns(typ string) int {
	n := 0
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"job done"`) && strings.Contains(line, `"task_type":"`+typ+`"`) {
			n++
		}
	}
	return n
}

// checkOncePerRecipient fails unless every address got exactly one message.
func checkOncePerRecipient(t *testing.T, msgs []smtpsink.Message) map[string]smtpsink.Message {
	t.Helper()
	by := map[string]smtpsink.Message{}
	ids := map[string]bool{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("recipients %v", m.To)
		}
		if _, dup := by[m.To[0]]; dup {
			t.Fatalf("%s got two messages", m.To[0])
		}
		by[m.To[0]] = m
		id := m.Header("Message-ID")
		if id == "" || ids[id] {
			t.Fatalf("Message-ID %q missing or repeated", id)
		}
		ids[id] = true
	}
	return by
}

func TestNoticesOfABurstAreSentInBatchesOnceEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.worker.SendParallel = 4
	// The first registration starts the notices job; the others find it
	// started.
	regs := b.registerMany("m1", 30, 150)
	if n := len(pending.Notices(t, b.store)); n != 150 {
		t.Fatalf("%d notices pending, want 150", n)
	}
	if n := pending.Tasks(t, asynq.NewInspectorFromRedisClient(b.redis.Client(t)), jobs.TypeNotices); n != 1 {
		t.Fatalf("%d notices jobs, want 1", n)
	}
	b.serve()
	got := checkOncePerRecipient(t, b.sink.WaitCount(t, 150, 20*time.Second))
	for i, r := range regs {
		want := "confirmation"
		if i >= 30 {
			want = "waitlisted"
		}
		m, ok := got[r.Email]
		if !ok || m.Header("X-Convene-Kind") != want {
			t.Fatalf("%s: kind %q, want %q", r.Email, m.Header("X-Convene-Kind"), want)
		}
	}
	for _, r := range regs {
		b.waitEmailStatus(r, convene.EmailSent)
	}
	if left := pending.Notices(t, b.store); len(left) != 0 {
		t.Fatalf("notices left after sending: %v", left)
	}
	// The job ends after its last send: once it finds no notice left.
	b.waitFor(10*time.Second, "the notices job to end", func() bool { return b.jobRuns(jobs.TypeNotices) >= 1 })
	if runs := b.jobRuns(jobs.TypeNotices); runs < 1 || runs > 3 {
		t.Errorf("%d runs of the notices job for 150 notices, want 1 (up to 3 on a slow machine)", runs)
	}
	if runs := b.jobRuns(jobs.TypeEmail); runs != 0 {
		t.Errorf("%d email jobs ran, want 0: notices need none", runs)
	}

	// Its job found nothing left and said so: the next registration
	// starts a new one, which sends it.
	_, intents, err := b.store.Register(b.ctx, b.registration("m1", "late@example.org"))
	if err != nil || len(intents) != 1 || intents[0].Type != convene.IntentNotices {
		t.Fatalf("late registration: intents %v (%v), want one notices intent", intents, err)
	}
	if err := b.worker.Queue.Enqueue(b.ctx, intents[0]); err != nil {
		t.Fatal(err)
	}
	checkOncePerRecipient(t, b.sink.WaitCount(t, 151, 10*time.Second))
}

func TestNoticesJobHandsOverToANewRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.worker.NoticesRunFor = time.Nanosecond // one batch per run
	b.registerMany("m1", 0, 120)
	b.serve()
	checkOncePerRecipient(t, b.sink.WaitCount(t, 120, 20*time.Second))
	b.waitFor(10*time.Second, fmt.Sprintf("a run per batch of %d and no notice left", jobs.NoticesBatch), func() bool {
		return b.jobRuns(jobs.TypeNotices) >= 3 && len(pending.Notices(t, b.store)) == 0
	})
	if n := b.sink.Count(); n != 120 {
		t.Fatalf("%d messages, want 120", n)
	}
}

// firstNoticeMeets registers n participants of m1, lets the worker send
// their notices one at a time with the first send meeting fault, and waits
// until the other n-1 have arrived once each. It returns the registrations
// and the first notice.
func (b *bundle) firstNoticeMeets(fault smtpsink.Fault, n int) ([]convene.Registration, convene.Message) {
	b.t.Helper()
	b.worker.SendParallel = 1
	b.sink.SetFault(fault)
	regs := b.registerMany("m1", 0, n)
	first := pending.Notices(b.t, b.store)[0]
	b.serve()
	checkOncePerRecipient(b.t, b.sink.WaitCount(b.t, n-1, 10*time.Second))
	return regs, first
}

func TestNoticeFailingForNowGetsAJobOfItsOwn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	regs, first := b.firstNoticeMeets(smtpsink.Fault{Code: 451, Stage: "rcpt", Times: 1}, 4)

	// The failed one waits, with the usual backoff, as an email job.
	insp := asynq.NewInspectorFromRedisClient(b.redis.Client(t))
	id := jobs.EmailTaskID(first)
	info, err := insp.GetTaskInfo(jobs.QueueCritical, id)
	if err != nil || info.State != asynq.TaskStateScheduled || time.Until(info.NextProcessAt) < 20*time.Second {
		t.Fatalf("email job of the failed notice: %+v %v, want scheduled about 30 s ahead", info, err)
	}
	if left := pending.Notices(t, b.store); len(left) != 0 {
		t.Fatalf("notices left: %v", left)
	}
	failed := byID(t, regs, first.RegistrationID)
	if s := b.emailStatus(failed); s != convene.EmailRetrying {
		t.Fatalf("email status of the failed notice %q, want retrying", s)
	}
	if err := insp.RunTask(jobs.QueueCritical, id); err != nil {
		t.Fatal(err)
	}
	checkOncePerRecipient(t, b.sink.WaitCount(t, 4, 10*time.Second))
	b.waitEmailStatus(failed, convene.EmailSent)
}

func TestNoticeHeldByAnotherRunIsNotSentTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.registerMany("m1", 0, 3)
	held := pending.Notices(t, b.store)[1]
	// Another run claimed it and is sending it now.
	if c, err := b.store.ClaimMessage(b.ctx, held, time.Minute); err != nil || c != store.ClaimOK {
		t.Fatalf("claim: %q %v", c, err)
	}
	b.serve()
	b.sink.WaitCount(t, 2, 10*time.Second)
	insp := asynq.NewInspectorFromRedisClient(b.redis.Client(t))
	id := jobs.EmailTaskID(held)
	if info, err := insp.GetTaskInfo(jobs.QueueCritical, id); err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("email job of the held notice: %+v %v, want scheduled", info, err)
	}
	// That run sends it and records it; the handed-on job then finds it sent.
	if err := b.store.FinishMessage(b.ctx, held, store.OutcomeSent, convene.EmailSent); err != nil {
		t.Fatal(err)
	}
	if err := insp.RunTask(jobs.QueueCritical, id); err != nil {
		t.Fatal(err)
	}
	b.waitFor(10*time.Second, "the handed-on job runs", func() bool {
		return strings.Contains(b.logs.String(), `"msg":"email already handled"`)
	})
	if n := b.sink.Count(); n != 2 {
		t.Fatalf("%d messages, want 2: the held notice is the other run's to send", n)
	}
}

func TestBouncedNoticeEndsAsAnArchivedJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	regs, first := b.firstNoticeMeets(smtpsink.Fault{Code: 550, Stage: "data", Times: 1}, 3)
	bounced := byID(t, regs, first.RegistrationID)
	b.waitEmailStatus(bounced, convene.EmailBounced)
	insp := asynq.NewInspectorFromRedisClient(b.redis.Client(t))
	b.waitFor(10*time.Second, "the bounced notice's job archived", func() bool {
		info, err := insp.GetTaskInfo(jobs.QueueCritical, jobs.EmailTaskID(first))
		return err == nil && info.State == asynq.TaskStateArchived
	})
	if info, _ := insp.GetTaskInfo(jobs.QueueCritical, jobs.EmailTaskID(first)); !strings.Contains(info.LastErr, "bounced") {
		t.Errorf("archived job's error %q, want it to say the message bounced", info.LastErr)
	}
	if n := b.sink.Attempts(); n != 3 {
		t.Errorf("%d SMTP attempts, want 3: a bounce is not tried again", n)
	}
	if left := pending.Notices(t, b.store); len(left) != 0 {
		t.Fatalf("notices left: %v", left)
	}
}
