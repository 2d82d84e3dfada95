package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/internal/smtpsink"
	"convene/internal/testredis"
	"convene/jobs"
	"convene/mailer"
	"convene/metrics"
	"convene/store"
	"convene/templates"
)

type bundle struct {
	t      *testing.T
	ctx    context.Context
	redis  *testredis.Server
	sink   *smtpsink.Sink
	store  *store.Store
	client *asynq.Client
	worker *jobs.Worker
	mux    *asynq.ServeMux
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T) *bundle {
	t.Helper()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	sink := smtpsink.Start(t)
	m, err := mailer.New(sink.URL(), "Convene <no-reply@convene.test>", mailer.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r, err := templates.New(templates.Options{From: m.From()})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := convene.NewSigner([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(rdb)
	logs := &syncBuffer{}
	st := store.New(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	w := &jobs.Worker{
		Store: st, Sender: m, Renderer: r, Queue: jobs.Queue{Enqueuer: client, Tasks: inspector}, Tasks: inspector, Signer: signer,
		PublicURL: "https://convene.test", Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: time.Now,
		LockTTL: 10 * time.Second, SweepAge: time.Second,
	}
	return &bundle{t: t, ctx: context.Background(), redis: srv, sink: sink, store: st, client: client, worker: w, mux: jobs.NewMux(w), logs: logs}
}

// serve runs a real asynq server on the test's Redis with fast retries.
func (b *bundle) serve() {
	b.t.Helper()
	cfg := jobs.ServerConfig(4, 5*time.Second, b.worker.Logger)
	cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond }
	rdb := b.redis.NewClient()
	srv := asynq.NewServerFromRedisClient(rdb, cfg)
	if err := srv.Start(b.mux); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { srv.Shutdown(); rdb.Close() })
}

func (b *bundle) registration(meetingID, email string) convene.Registration {
	b.t.Helper()
	r, err := convene.NewRegistration(meetingID, convene.RegistrationInput{Name: "Ada Lovelace", Email: email}, time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

// serveUntil runs an asynq server until done reports true, then shuts it
// down: a worker that goes away.
func (b *bundle) serveUntil(done func() bool) {
	b.t.Helper()
	cfg := jobs.ServerConfig(4, 5*time.Second, b.worker.Logger)
	rdb := b.redis.NewClient()
	srv := asynq.NewServerFromRedisClient(rdb, cfg)
	if err := srv.Start(b.mux); err != nil {
		b.t.Fatal(err)
	}
	// The server must be down before its client closes, even when the
	// test fails below.
	defer func() { srv.Shutdown(); rdb.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			b.t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// scheduled counts the tasks waiting in the scheduled state.
func (b *bundle) scheduled() int {
	info, err := asynq.NewInspectorFromRedisClient(b.redis.Client(b.t)).GetQueueInfo(jobs.QueueCritical)
	if err != nil {
		return 0
	}
	return info.Scheduled
}

func (b *bundle) register(meetingID string, capacity int, email string) convene.Registration {
	b.t.Helper()
	if _, err := b.store.Meeting(b.ctx, meetingID); err != nil {
		title, starts, tz := "Training on "+meetingID, time.Now().Add(72*time.Hour).Format(time.RFC3339), "Europe/Zurich"
		m, err := convene.NewMeeting(convene.MeetingInput{ID: &meetingID, Title: &title, StartsAt: &starts, Timezone: &tz, Capacity: &capacity}, nil, time.Now())
		if err != nil {
			b.t.Fatal(err)
		}
		if _, err := b.store.CreateMeeting(b.ctx, m); err != nil {
			b.t.Fatal(err)
		}
	}
	r, err := convene.NewRegistration(meetingID, convene.RegistrationInput{Name: "Ada Lovelace", Email: email}, time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	r, _, err = b.store.Register(b.ctx, r)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (b *bundle) emailStatus(r convene.Registration) string {
	b.t.Helper()
	got, err := b.store.Registration(b.ctx, r.MeetingID, r.ID)
	if err != nil {
		b.t.Fatal(err)
	}
	return got.EmailStatus
}

func (b *bundle) waitEmailStatus(r convene.Registration, want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.emailStatus(r) != want {
		if time.Now().After(deadline) {
			b.t.Fatalf("email_status stayed %q, want %q; logs:\n%s", b.emailStatus(r), want, b.logs)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// withMetrics gives the worker real metrics and returns them.
func (b *bundle) withMetrics() *metrics.Metrics {
	m := metrics.New(nil)
	b.worker.Metrics = m
	return m
}

// counter returns the value of the counter name with exactly the labels
// given as name, value pairs.
func counter(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel())*2 != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				i := slices.Index(labels, l.GetName())
				if i < 0 || i%2 != 0 || labels[i+1] != l.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// sinkStaysAt asserts that the sink still holds n messages after d: no
// late or repeated send arrives.
func (b *bundle) sinkStaysAt(n int, d time.Duration) {
	b.t.Helper()
	until := time.Now().Add(d)
	for {
		if got := b.sink.Count(); got != n {
			b.t.Fatalf("the sink holds %d messages, want %d; logs:\n%s", got, n, b.logs)
		}
		if time.Now().After(until) {
			return
		}
		time.Sleep(20 * time.Millisecond) // observing that nothing more arrives
	}
}

func emailTask(t *testing.T, msg convene.Message) *asynq.Task {
	t.Helper()
	task, err := jobs.NewEmailTask(msg)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestConfirmationIsSentWithHeadersAndCalendar(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.register("m1", 0, "ada@example.org")
	msg := convene.NoticeMessage(r)
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, msg)); err != nil {
		t.Fatal(err)
	}
	got := b.sink.WaitCount(t, 1, 5*time.Second)[0]
	if len(got.To) != 1 || got.To[0] != "ada@example.org" {
		t.Fatalf("recipients %v", got.To)
	}
	for h, want := range map[string]string{
		"X-Convene-Kind":         "confirmation",
		"X-Convene-Meeting":      "m1",
		"X-Convene-Registration": r.ID,
		"Message-ID":             "<" + msg.MessageID("convene.test") + ">",
	} {
		if v := got.Header(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	text, ok := got.Part("text/plain")
	if !ok || !strings.Contains(string(text.Body), "https://convene.test/r/m1."+r.ID+".") {
		t.Errorf("text part lacks the personal link: %s", text.Body)
	}
	if _, ok := got.Part("text/html"); !ok {
		t.Error("no HTML part")
	}
	cal, ok := got.Part("text/calendar")
	if !ok || !strings.Contains(string(cal.Body), "UID:m1@convene.test") || !strings.Contains(string(cal.Body), "SEQUENCE:1") {
		t.Errorf("calendar part: %v %s", ok, cal.Body)
	}
	if s := b.emailStatus(r); s != convene.EmailSent {
		t.Errorf("email_status %q, want sent", s)
	}
	if !strings.Contains(b.logs.String(), `"registration_id":"`+r.ID+`"`) {
		t.Errorf("logs do not carry the registration id:\n%s", b.logs)
	}
}

func TestWaitlistedNoticeShowsPosition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.register("m1", 1, "first@example.org")
	r := b.register("m1", 1, "second@example.org")
	if r.Status != convene.StatusWaitlisted {
		t.Fatalf("status %s", r.Status)
	}
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, convene.NoticeMessage(r))); err != nil {
		t.Fatal(err)
	}
	got := b.sink.WaitCount(t, 1, 5*time.Second)[0]
	if got.Header("X-Convene-Kind") != "waitlisted" {
		t.Fatalf("kind %q", got.Header("X-Convene-Kind"))
	}
	if _, ok := got.Part("text/calendar"); ok {
		t.Fatal("a waitlist notice carries a calendar entry")
	}
	if text, _ := got.Part("text/plain"); !strings.Contains(string(text.Body), "1") {
		t.Fatalf("no position in %s", text.Body)
	}
}

func TestJobRunTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.register("m1", 0, "ada@example.org")
	task := emailTask(t, convene.NoticeMessage(r))
	for range 3 {
		if err := b.mux.ProcessTask(b.ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent duplicates too: one wins the ledger claim, the others are
	// told it is busy or sent.
	r2 := b.register("m1", 0, "grace@example.org")
	task2 := emailTask(t, convene.NoticeMessage(r2))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.mux.ProcessTask(b.ctx, task2) }()
	}
	wg.Wait()
	if err := b.mux.ProcessTask(b.ctx, task2); err != nil {
		t.Fatalf("a run after the concurrent ones: %v", err)
	}
	if n := b.sink.Count(); n != 2 {
		t.Fatalf("%d emails for 2 messages run 12 times", n)
	}
}

func TestTemporaryFailureIsRetriedThenDeliveredOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault smtpsink.Fault
	}{
		{"451 after the body", smtpsink.Fault{Code: 451, Times: 2}},
		{"421 after the body", smtpsink.Fault{Code: 421, Times: 2}},
		{"421 at MAIL FROM", smtpsink.Fault{Code: 421, Stage: "mail", Times: 2}},
		{"451 at RCPT TO", smtpsink.Fault{Code: 451, Stage: "rcpt", Times: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			m := b.withMetrics()
			b.sink.SetFault(tc.fault)
			r := b.register("m1", 0, "ada@example.org")
			b.serve()
			if err := b.worker.Queue.Enqueue(b.ctx, convene.EmailIntent(convene.NoticeMessage(r))); err != nil {
				t.Fatal(err)
			}
			b.sink.WaitCount(t, 1, 15*time.Second)
			b.waitEmailStatus(r, convene.EmailSent)
			if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", convene.ReasonTemporary); f != 2 {
				t.Fatalf("%v temporary failures counted, want 2 (two refusals, then success)", f)
			}
			if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", convene.ReasonPermanent); f != 0 {
				t.Fatalf("a temporary refusal was counted as permanent %v times", f)
			}
			if s := counter(t, m, "convene_emails_sent_total", "kind", "confirmation"); s != 1 {
				t.Fatalf("%v sends counted, want 1", s)
			}
			b.sinkStaysAt(1, 500*time.Millisecond)
		})
	}
}

func TestRefusedConnectionIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.withMetrics()
	b.sink.Stop()
	r := b.register("m1", 0, "ada@example.org")
	b.serve()
	if err := b.worker.Queue.Enqueue(b.ctx, convene.EmailIntent(convene.NoticeMessage(r))); err != nil {
		t.Fatal(err)
	}
	b.waitEmailStatus(r, convene.EmailRetrying)
	b.sink.Restart(t)
	b.sink.WaitCount(t, 1, 15*time.Second)
	b.waitEmailStatus(r, convene.EmailSent)
	if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", convene.ReasonNetwork); f < 1 {
		t.Fatalf("%v refused connections counted, want at least 1", f)
	}
	b.sinkStaysAt(1, 500*time.Millisecond)
}

// A 5xx is not retried; the registration shows it, the metrics count it
// and the organiser's next digest lists it.
func TestPermanentFailureBouncesWithoutRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.withMetrics()
	b.worker.Digests = b.store
	b.worker.DigestRenderer = b.worker.Renderer.(jobs.DigestRenderer)
	b.worker.DigestLocation = time.UTC
	id, title, starts, tz, organisers := "m1", "Training on bounces", time.Now().Add(72*time.Hour).Format(time.RFC3339), "UTC", []string{"organiser@example.org"}
	mt, err := convene.NewMeeting(convene.MeetingInput{ID: &id, Title: &title, StartsAt: &starts, Timezone: &tz, Organisers: &organisers}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.CreateMeeting(b.ctx, mt); err != nil {
		t.Fatal(err)
	}
	ok, err := convene.NewRegistration("m1", convene.RegistrationInput{Name: "Grace Hopper", Email: "grace@example.org"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err = b.store.Register(b.ctx, ok); err != nil {
		t.Fatal(err)
	}
	b.sink.SetFault(smtpsink.Fault{Code: 550})
	r := b.register("m1", 0, "nobody@example.org")
	b.serve()
	msg := convene.NoticeMessage(r)
	if err := b.worker.Queue.Enqueue(b.ctx, convene.EmailIntent(msg)); err != nil {
		t.Fatal(err)
	}
	b.waitEmailStatus(r, convene.EmailBounced)
	insp := asynq.NewInspectorFromRedisClient(b.redis.Client(t))
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := insp.GetTaskInfo(jobs.QueueCritical, jobs.EmailTaskID(msg))
		if err == nil && info.State == asynq.TaskStateArchived {
			if info.Retried != 0 {
				t.Fatalf("a 550 was retried %d times", info.Retried)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not archived: %+v %v", info, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if n, a := b.sink.Count(), b.sink.Attempts(); n != 0 || a != 1 {
		t.Fatalf("%d emails delivered in %d attempts for a 550, want none in 1", n, a)
	}
	// The metrics count the bounce, and nothing else.
	if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", convene.ReasonPermanent); f != 1 {
		t.Fatalf("%v bounces counted, want 1", f)
	}
	for _, reason := range []string{convene.ReasonTemporary, convene.ReasonNetwork, convene.ReasonUnknown} {
		if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", reason); f != 0 {
			t.Fatalf("a 550 counted %v times as %s", f, reason)
		}
	}

	// The organiser's digest lists the bounced participant, and only them,
	// among the bounces.
	b.sink.SetFault(smtpsink.Fault{})
	if s := b.emailStatus(ok); s != convene.EmailPending {
		t.Fatalf("the other participant's email_status %q", s)
	}
	tick, err := jobs.NewDigestTickTask(time.Now().Truncate(time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.Enqueue(tick); err != nil {
		t.Fatal(err)
	}
	digest := b.sink.WaitCount(t, 1, 15*time.Second)[0]
	if digest.Header("X-Convene-Kind") != "digest" || len(digest.To) != 1 || digest.To[0] != "organiser@example.org" {
		t.Fatalf("the first email after the bounce: kind %q to %v", digest.Header("X-Convene-Kind"), digest.To)
	}
	for _, mediaType := range []string{"text/plain", "text/html"} {
		part, found := digest.Part(mediaType)
		body := string(part.Body)
		i := strings.Index(body, "Emails that bounced")
		if !found || i < 0 {
			t.Fatalf("the digest's %s part has no bounce section:\n%s", mediaType, body)
		}
		if bounced := body[i:]; !strings.Contains(bounced, r.Name) || strings.Contains(bounced, ok.Name) {
			t.Fatalf("the digest's %s bounce section should name %s and not %s:\n%s", mediaType, r.Name, ok.Name, bounced)
		}
	}
}

func TestConnectionLostAfterBodyIsResentWithSameMessageID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.withMetrics()
	b.sink.SetFault(smtpsink.Fault{DropAfterData: true, Times: 1})
	r := b.register("m1", 0, "ada@example.org")
	b.serve()
	if err := b.worker.Queue.Enqueue(b.ctx, convene.EmailIntent(convene.NoticeMessage(r))); err != nil {
		t.Fatal(err)
	}
	msgs := b.sink.WaitCount(t, 2, 15*time.Second)
	if msgs[0].Header("Message-ID") != msgs[1].Header("Message-ID") || msgs[0].Header("Message-ID") == "" {
		t.Fatalf("resend carries another Message-ID: %q vs %q", msgs[0].Header("Message-ID"), msgs[1].Header("Message-ID"))
	}
	b.waitEmailStatus(r, convene.EmailSent)
	if u := counter(t, m, "convene_emails_unknown_outcome_total", "kind", "confirmation"); u != 1 {
		t.Fatalf("convene_emails_unknown_outcome_total %v, want 1", u)
	}
	if f := counter(t, m, "convene_emails_failed_total", "kind", "confirmation", "reason", convene.ReasonUnknown); f != 1 {
		t.Fatalf("%v failures counted as unknown_outcome, want 1", f)
	}
	b.sinkStaysAt(2, 500*time.Millisecond)
}

func TestConnectionLostAfterAcceptIsSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.withMetrics()
	b.sink.SetFault(smtpsink.Fault{DropAfterAccept: true, Times: 1})
	r := b.register("m1", 0, "ada@example.org")
	task := emailTask(t, convene.NoticeMessage(r))
	if err := b.mux.ProcessTask(b.ctx, task); err != nil {
		t.Fatalf("a message the server accepted was reported as failed: %v", err)
	}
	if s := b.emailStatus(r); s != convene.EmailSent {
		t.Fatalf("email_status %q", s)
	}
	// Had the job failed, asynq would run it again: nothing more goes out.
	if err := b.mux.ProcessTask(b.ctx, task); err != nil {
		t.Fatal(err)
	}
	if n, a := b.sink.Count(), b.sink.Attempts(); n != 1 || a != 1 {
		t.Fatalf("%d emails in %d attempts, want 1 in 1", n, a)
	}
	if u := counter(t, m, "convene_emails_unknown_outcome_total", "kind", "confirmation"); u != 0 {
		t.Fatalf("an accepted message counted as unknown outcome: %v", u)
	}
	if s := counter(t, m, "convene_emails_sent_total", "kind", "confirmation"); s != 1 {
		t.Fatalf("%v sends counted, want 1", s)
	}
}

func TestStaleNoticesAreSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.register("m1", 1, "first@example.org")
	r := b.register("m1", 1, "second@example.org")
	// A confirmation for a waitlisted registration is stale: nothing is sent.
	msg := convene.NoticeMessage(r)
	msg.Kind = convene.EmailConfirmation
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, msg)); err != nil {
		t.Fatal(err)
	}
	// So is any email to a registration that no longer exists.
	gone := convene.Message{MeetingID: "m1", RegistrationID: "r-gone", Kind: convene.EmailConfirmation, Variant: "1"}
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, gone)); err != nil {
		t.Fatal(err)
	}
	if n := b.sink.Count(); n != 0 {
		t.Fatalf("%d stale emails sent", n)
	}
}

func TestBadPayloadIsNotRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{`{`, `{"m":"m1"}`, `{"m":"m1","r":"r|x","k":"confirmation","v":"1"}`} {
		err := b.mux.ProcessTask(b.ctx, asynq.NewTask(jobs.TypeEmail, []byte(p)))
		if err == nil || !strings.Contains(err.Error(), asynq.SkipRetry.Error()) {
			t.Errorf("payload %s: %v, want SkipRetry", p, err)
		}
	}
}

func TestSweepEnqueuesWhatWasNeverEnqueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.worker.SweepAge = 0
	r := b.register("m1", 0, "ada@example.org") // stored, never enqueued: as if the web died
	b.serve()
	if err := b.mux.ProcessTask(b.ctx, jobs.NewSweepTask(time.Now())); err != nil {
		t.Fatal(err)
	}
	b.sink.WaitCount(t, 1, 10*time.Second)
	b.waitEmailStatus(r, convene.EmailSent)
	// A second sweep finds nothing more to do.
	if err := b.mux.ProcessTask(b.ctx, jobs.NewSweepTask(time.Now())); err != nil {
		t.Fatal(err)
	}
	stale, err := b.store.StaleIntents(b.ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(stale) != 0 {
		t.Fatalf("outbox after the sweep: %v %v", stale, err)
	}
	if n := b.sink.Count(); n != 1 {
		t.Fatalf("%d emails", n)
	}
}

func TestPayloadsCarryIDsOnly(t *testing.T) {
	t.Parallel()
	r := convene.Registration{ID: "r-1", MeetingID: "m1", Name: "Ada", Email: "ada@example.org", Status: convene.StatusConfirmed}
	task := emailTask(t, convene.NoticeMessage(r))
	var fields map[string]string
	if err := json.Unmarshal(task.Payload(), &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 4 || strings.Contains(string(task.Payload()), "ada") {
		t.Fatalf("payload %s", task.Payload())
	}
}

func TestRetryDelays(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask(jobs.TypeEmail, nil)
	first := jobs.RetryDelay(0, context.DeadlineExceeded, task)
	if first <= 0 || first > time.Minute {
		t.Fatalf("first retry after %v, want within a minute", first)
	}
	var total time.Duration
	for n := range jobs.EmailMaxRetry {
		d := jobs.RetryDelay(n, context.DeadlineExceeded, task)
		if d > 70*time.Minute {
			t.Fatalf("retry %d after %v: over the cap", n, d)
		}
		total += d
	}
	if total < 20*time.Hour || total > 28*time.Hour {
		t.Fatalf("retries span %v, want about 24h", total)
	}
	// Backoff: each of the first retries waits longer than the one before.
	for n := 1; n < 7; n++ {
		if prev, d := jobs.RetryDelay(n-1, context.DeadlineExceeded, task), jobs.RetryDelay(n, context.DeadlineExceeded, task); d <= prev {
			t.Fatalf("retry %d after %v, retry %d after %v: no backoff", n-1, prev, n, d)
		}
	}
	// The worker's asynq server uses these delays.
	cfg := jobs.ServerConfig(1, time.Second, slog.New(slog.DiscardHandler))
	if cfg.RetryDelayFunc == nil {
		t.Fatal("the worker's server config has no RetryDelayFunc: asynq's default delays would apply")
	}
	for n := range jobs.EmailMaxRetry {
		if got, want := cfg.RetryDelayFunc(n, context.DeadlineExceeded, task), jobs.RetryDelay(n, context.DeadlineExceeded, task); got != want {
			t.Fatalf("the worker retries after %v the %d. time, want %v", got, n, want)
		}
	}
}

// TestRunAgainAfterCancellationKeepsTheLedger: a confirmation was sent,
// then the registration was cancelled, then asynq runs the email job
// again. The run sends nothing and leaves the ledger's record of the send.
func TestRunAgainAfterCancellationKeepsTheLedger(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.register("m1", 0, "ada@example.org")
	msg := convene.NoticeMessage(r)
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, msg)); err != nil {
		t.Fatal(err)
	}
	b.sink.WaitCount(t, 1, 5*time.Second)
	if _, _, err := b.store.CancelRegistration(b.ctx, "m1", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.mux.ProcessTask(b.ctx, emailTask(t, msg)); err != nil {
		t.Fatal(err)
	}
	if n := b.sink.Count(); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	if c, err := b.store.ClaimMessage(b.ctx, msg, time.Minute); err != nil || c != store.ClaimSent {
		t.Fatalf("ledger after the second run: %q (%v), want sent", c, err)
	}
}
