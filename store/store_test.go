package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"convene"
	"convene/internal/testredis"
	"convene/store"
)

type bundle struct {
	redis *testredis.Server
	store *store.Store
	ctx   context.Context
}

func setup(t *testing.T, redisArgs ...string) bundle {
	t.Helper()
	srv := testredis.Start(t, redisArgs...)
	return bundle{redis: srv, store: store.New(srv.Client(t)), ctx: context.Background()}
}

func meeting(t *testing.T, id string, capacity int) convene.Meeting {
	t.Helper()
	title, starts, tz := "Expert group on water", time.Now().Add(48*time.Hour).Format(time.RFC3339), "Europe/Zurich"
	m, err := convene.NewMeeting(convene.MeetingInput{ID: &id, Title: &title, StartsAt: &starts, Timezone: &tz, Capacity: &capacity}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func registration(t *testing.T, meetingID, email string) convene.Registration {
	t.Helper()
	r, err := convene.NewRegistration(meetingID, convene.RegistrationInput{Name: "Ada", Email: email}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCreateMeetingRoundTripsAndRejectsTakenID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := meeting(t, "egm-water", 10)
	loc, url := "Palais, Room XX", "https://example.org/live"
	ends := m.StartsAt.Add(3 * time.Hour)
	m.Location, m.OnlineURL, m.EndsAt = loc, url, &ends
	m.Reminders = []convene.Offset{convene.Offset(168 * time.Hour), convene.Offset(15 * time.Minute)}
	m.Organisers = []string{"a@example.org", "b@example.org"}
	if _, err := b.store.CreateMeeting(b.ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Meeting(b.ctx, "egm-water")
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != m.Title || !got.StartsAt.Equal(m.StartsAt) || got.EndsAt == nil || !got.EndsAt.Equal(ends) ||
		got.Location != loc || got.OnlineURL != url || got.Capacity != 10 || got.Version != 1 || got.Status != convene.MeetingScheduled ||
		len(got.Reminders) != 2 || got.Reminders[1] != convene.Offset(15*time.Minute) || strings.Join(got.Organisers, ",") != "a@example.org,b@example.org" {
		t.Fatalf("meeting did not round-trip:\n got %+v\nwant %+v", got, m)
	}
	_, err = b.store.CreateMeeting(b.ctx, m)
	if convene.ErrorCode(err) != convene.ECONFLICT {
		t.Fatalf("second create: got %v, want ECONFLICT", err)
	}
	list, err := b.store.Meetings(b.ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("Meetings: %v, %d meetings, want 1", err, len(list))
	}
	if _, err := b.store.Meeting(b.ctx, "nope"); convene.ErrorCode(err) != convene.ENOTFOUND {
		t.Fatalf("unknown meeting: got %v, want ENOTFOUND", err)
	}
}

func TestCapacityHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const capacity, n = 7, 60
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", capacity)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]convene.Registration, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], _, errs[i] = b.store.Register(b.ctx, registration(t, "m1", fmt.Sprintf("p%d@example.org", i)))
		}()
	}
	close(start)
	wg.Wait()
	confirmed, waitlisted := 0, 0
	var waitSeqs []int64
	positions := map[int]bool{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("register %d: %v", i, errs[i])
		}
		switch r.Status {
		case convene.StatusConfirmed:
			confirmed++
		case convene.StatusWaitlisted:
			waitlisted++
			waitSeqs = append(waitSeqs, r.Seq)
			positions[r.Position] = true
		}
	}
	if confirmed != capacity || waitlisted != n-capacity {
		t.Fatalf("confirmed %d, waitlisted %d; want %d and %d", confirmed, waitlisted, capacity, n-capacity)
	}
	// Waitlist positions follow arrival order: every position 1..n-capacity once,
	// and the position matches the order of the arrival sequence.
	for p := 1; p <= n-capacity; p++ {
		if !positions[p] {
			t.Fatalf("no waitlisted registration has position %d", p)
		}
	}
	for _, r := range results {
		if r.Status != convene.StatusWaitlisted {
			continue
		}
		earlier := 0
		for _, s := range waitSeqs {
			if s < r.Seq {
				earlier++
			}
		}
		if r.Position != earlier+1 {
			t.Fatalf("registration seq %d has position %d, want %d", r.Seq, r.Position, earlier+1)
		}
	}
	m, err := b.store.Meeting(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Confirmed != capacity || m.Counts.Waitlisted != n-capacity {
		t.Fatalf("counts %+v", m.Counts)
	}
}

func TestSameAddressInAnyCaseIsOneRegistration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	ids := make([]string, n)
	created := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "Ada.Lovelace@Example.org"
			if i%2 == 0 {
				email = strings.ToLower(email)
			}
			r, in, err := b.store.Register(b.ctx, registration(t, "m1", email))
			c := len(in) > 0
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], created[i] = r.ID, c
		}()
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if ids[i] != ids[0] {
			t.Fatalf("answer %d has id %s, answer 0 has %s", i, ids[i], ids[0])
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d registrations created, want 1", nCreated)
	}
	stale, err := b.store.StaleIntents(b.ctx, time.Now().Add(time.Minute), 100)
	if err != nil || len(stale) != 2 { // schedule reminders + one notice
		t.Fatalf("outbox holds %d intents (%v), want 1", len(stale), err)
	}
}

func TestRegisterRefusesClosedMeetings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := meeting(t, "started", 0)
	started.StartsAt = time.Now().Add(-time.Minute)
	closed := meeting(t, "closed", 0)
	past := time.Now().Add(-time.Second)
	closed.RegistrationClosesAt = &past
	for _, m := range []convene.Meeting{started, closed} {
		if _, err := b.store.CreateMeeting(b.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ meeting, code string }{
		{"started", convene.ECONFLICT},
		{"closed", convene.ECONFLICT},
		{"unknown", convene.ENOTFOUND},
	} {
		_, _, err := b.store.Register(b.ctx, registration(t, tc.meeting, "x@example.org"))
		if convene.ErrorCode(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.meeting, err, tc.code)
		}
	}
	keys := b.redis.Keys(t)
	for _, k := range keys {
		if strings.Contains(k, ":r:") || strings.HasSuffix(k, ":e") {
			t.Errorf("a refused registration left key %s", k)
		}
	}
}

func TestLedgerClaimsOnceAndTakesOverStaleClaims(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	now := time.Now()
	clock := func() time.Time { return now }
	s := store.New(srv.Client(t), store.WithClock(clock))
	ctx := context.Background()
	if _, err := s.CreateMeeting(ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.Register(ctx, registration(t, "m1", "a@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	msg := convene.NoticeMessage(r)
	claim := func(want store.Claim) {
		t.Helper()
		got, err := s.ClaimMessage(ctx, msg, time.Minute)
		if err != nil || got != want {
			t.Fatalf("claim: got %q (%v), want %q", got, err, want)
		}
	}
	claim(store.ClaimOK)
	claim(store.ClaimBusy)
	now = now.Add(61 * time.Second) // the first run died mid-send
	claim(store.ClaimOK)
	if err := s.FinishMessage(ctx, msg, store.OutcomeRetry, convene.EmailRetrying); err != nil {
		t.Fatal(err)
	}
	claim(store.ClaimOK) // a retry claims again at once
	if err := s.FinishMessage(ctx, msg, store.OutcomeSent, convene.EmailSent); err != nil {
		t.Fatal(err)
	}
	claim(store.ClaimSent)
	got, err := s.Registration(ctx, "m1", r.ID)
	if err != nil || got.EmailStatus != convene.EmailSent {
		t.Fatalf("email status %q (%v), want sent", got.EmailStatus, err)
	}
	stale, err := s.StaleIntents(ctx, now.Add(time.Hour), 10)
	if err != nil || len(stale) != 1 || stale[0].Type != convene.IntentSchedule {
		t.Fatalf("outbox still holds %v (%v) after the message was sent", stale, err)
	}
}

func TestUnavailableRedisIsEUNAVAILABLE(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	b.redis.Kill()
	_, _, err := b.store.Register(b.ctx, registration(t, "m1", "a@example.org"))
	if convene.ErrorCode(err) != convene.EUNAVAILABLE {
		t.Fatalf("register with Redis down: got %v, want EUNAVAILABLE", err)
	}
	if err := b.store.Ping(b.ctx); convene.ErrorCode(err) != convene.EUNAVAILABLE {
		t.Fatalf("ping with Redis down: got %v", err)
	}
	b.redis.Restart()
	// The client reconnects by itself; the meeting survived in the AOF.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err = b.store.Register(b.ctx, registration(t, "m1", "a@example.org"))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("register after restart: %v", err)
	}
}

func TestOutOfMemoryRefusesWholeRegistration(t *testing.T) {
	t.Parallel()
	b := setup(t, "--maxmemory", "3mb")
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	c := b.redis.Client(t)
	// Small values: a large one would count its own query buffer and fail
	// while Redis is still under the limit for smaller commands.
	filler := strings.Repeat("x", 256)
	for i := 0; ; i++ {
		if err := c.Set(b.ctx, fmt.Sprintf("fill:%d", i), filler, 0).Err(); err != nil {
			if !strings.Contains(err.Error(), "OOM") {
				t.Fatalf("filling Redis: %v", err)
			}
			break
		}
		if i > 100000 {
			t.Fatal("Redis never reached maxmemory")
		}
	}
	_, _, err := b.store.Register(b.ctx, registration(t, "m1", "a@example.org"))
	if convene.ErrorCode(err) != convene.EUNAVAILABLE {
		t.Fatalf("register at maxmemory: got %v, want EUNAVAILABLE", err)
	}
	m, err := b.store.Meeting(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Confirmed != 0 {
		t.Fatalf("a refused registration was counted: %+v", m.Counts)
	}
	for _, k := range b.redis.Keys(t) {
		if strings.Contains(k, ":r:") {
			t.Fatalf("a refused registration left key %s", k)
		}
	}
}
