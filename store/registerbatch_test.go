package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"convene"
	"convene/ratelimit"
	"convene/store"
)

func TestRegisterBatcherKeepsCapacityAndGivesEachItsAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const capacity, n = 7, 300
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", capacity)); err != nil {
		t.Fatal(err)
	}
	rb := b.store.NewRegisterBatcher()
	defer rb.Close()

	// Calls 0..n-1 register distinct addresses; calls n..n+19 register
	// the addresses of calls 0..19 again (in capitals), and calls
	// n+20..n+29 a meeting that does not exist, all at once.
	total := n + 30
	in := make([]convene.Registration, total)
	for i := range total {
		switch {
		case i < n:
			in[i] = registration(t, "m1", fmt.Sprintf("p%d@example.org", i))
		case i < n+20:
			in[i] = registration(t, "m1", fmt.Sprintf("P%d@EXAMPLE.org", i-n))
		default:
			in[i] = registration(t, "nope", fmt.Sprintf("q%d@example.org", i))
		}
	}
	out := make([]convene.Registration, total)
	errs := make([]error, total)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range total {
		wg.Go(func() {
			<-start
			out[i], _, errs[i] = rb.Register(b.ctx, in[i])
		})
	}
	close(start)
	wg.Wait()

	confirmed, positions := 0, map[int]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("register %d: %v", i, errs[i])
		}
		switch out[i].Status {
		case convene.StatusConfirmed:
			confirmed++
		case convene.StatusWaitlisted:
			positions[out[i].Position] = true
		default:
			t.Fatalf("register %d: status %q", i, out[i].Status)
		}
	}
	if confirmed != capacity {
		t.Errorf("%d confirmed, want the capacity %d", confirmed, capacity)
	}
	for p := 1; p <= n-capacity; p++ {
		if !positions[p] {
			t.Fatalf("no waitlisted registration has position %d", p)
		}
	}
	// Each twin got the one registration of its address, whichever of the
	// two calls ran first; exactly one of them created it.
	for i := n; i < n+20; i++ {
		first := i - n
		if errs[i] != nil {
			t.Fatalf("register %d again: %v", first, errs[i])
		}
		if out[i].ID != out[first].ID {
			t.Errorf("address %d: answers name %s and %s, want one registration", first, out[first].ID, out[i].ID)
		}
		if created := (out[i].ID == in[i].ID) != (out[first].ID == in[first].ID); !created {
			t.Errorf("address %d: both or neither call created the registration", first)
		}
	}
	for i := n + 20; i < total; i++ {
		if convene.ErrorCode(errs[i]) != convene.ENOTFOUND {
			t.Errorf("register %d for an unknown meeting: %v, want ENOTFOUND", i, errs[i])
		}
	}
	m, err := b.store.Meeting(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Confirmed != capacity || m.Counts.Waitlisted != n-capacity {
		t.Errorf("counts %+v, want %d confirmed and %d waitlisted", m.Counts, capacity, n-capacity)
	}
	for _, i := range []int{20, n / 2, n - 1} { // addresses without a twin
		got, err := b.store.Registration(b.ctx, "m1", out[i].ID)
		if err != nil || got.Email != in[i].Email || got.Status != out[i].Status {
			t.Errorf("stored registration %d: %+v (%v), want %s %s", i, got, err, in[i].Email, out[i].Status)
		}
	}
}

func TestRegisterBatcherSurvivesLostScriptsAndRedisDownAndWorksAfterClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	rb := b.store.NewRegisterBatcher()
	register := func(email string) error {
		t.Helper()
		r, _, err := rb.Register(b.ctx, registration(t, "m1", email))
		if err == nil && (r.Status != convene.StatusConfirmed || !strings.HasPrefix(r.Email, strings.Split(email, "@")[0])) {
			t.Errorf("register %s: %+v", email, r)
		}
		return err
	}

	// Redis lost its scripts (as after a restart without them).
	if err := b.redis.Client(t).ScriptFlush(b.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := register("a@example.org"); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}

	// Redis down: EUNAVAILABLE, not a hang, and nothing stored.
	b.redis.Stop()
	done := make(chan error, 1)
	go func() { done <- register("down@example.org") }()
	select {
	case err := <-done:
		if convene.ErrorCode(err) != convene.EUNAVAILABLE {
			t.Errorf("Redis down: %v, want EUNAVAILABLE", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Redis down: Register did not return within 30 s")
	}
	b.redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := register("b@example.org")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval while go-redis reconnects
	}

	// After Close, each call registers at once.
	rb.Close()
	rb.Close() // twice is fine
	if err := register("c@example.org"); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	m, err := b.store.Meeting(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Confirmed != 3 {
		t.Errorf("%d confirmed, want 3 (a, b, c; not the one sent while Redis was down)", m.Counts.Confirmed)
	}
}

func TestRegisterBatcherCountsLimitsFirstAndStoresNothingThatARefusedOne(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, id := range []string{"m1", "m2"} {
		if _, err := b.store.CreateMeeting(b.ctx, meeting(t, id, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Two web replicas, each with its batcher and client, and the unbatched
	// Register, all counting the same windows.
	var replicas []func(convene.Registration, ...ratelimit.Check) (convene.Registration, []convene.Intent, error)
	for range 2 {
		rdb := b.redis.NewClient()
		rb := store.New(rdb).NewRegisterBatcher()
		t.Cleanup(func() { rb.Close(); rdb.Close() })
		replicas = append(replicas, func(r convene.Registration, l ...ratelimit.Check) (convene.Registration, []convene.Intent, error) {
			return rb.Register(b.ctx, r, l...)
		})
	}
	replicas = append(replicas, func(r convene.Registration, l ...ratelimit.Check) (convene.Registration, []convene.Intent, error) {
		return b.store.Register(b.ctx, r, l...)
	})

	const allowed, n = 40, 150
	ip := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.1"), N: allowed, Period: time.Minute}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			email := fmt.Sprintf("p%d@example.org", i)
			byEmail := ratelimit.Check{Key: ratelimit.EmailKey(email), N: 1, Period: time.Hour}
			_, _, errs[i] = replicas[i%len(replicas)](registration(t, "m1", email), ip, byEmail)
		})
	}
	close(start)
	wg.Wait()
	stored := 0
	for i, err := range errs {
		var refusal *ratelimit.RefusedError
		switch {
		case err == nil:
			stored++
		case errors.As(err, &refusal):
			if refusal.Check != 0 || refusal.Wait <= 0 || refusal.Wait > time.Minute || convene.ErrorCode(err) != convene.ETOOMANY {
				t.Errorf("register %d: refused by check %d for %v (%v), want by the address's limit, within the minute", i, refusal.Check, refusal.Wait, err)
			}
		default:
			t.Errorf("register %d: %v", i, err)
		}
	}
	regs, err := b.store.Registrations(b.ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if stored != allowed || len(regs) != allowed {
		t.Errorf("%d answered stored, %d stored; want exactly the %d the limit allows", stored, len(regs), allowed)
	}

	// The email limit holds across meetings, and counts a request that
	// another limit refused: p0 registered for m1 (or was refused there).
	byEmail := ratelimit.Check{Key: ratelimit.EmailKey("P0@Example.org"), N: 1, Period: time.Hour}
	other := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.2"), N: 10, Period: time.Minute}
	for _, register := range replicas {
		_, _, err := register(registration(t, "m2", "p0@example.org"), other, byEmail)
		var refusal *ratelimit.RefusedError
		if !errors.As(err, &refusal) || refusal.Check != 1 || refusal.Wait < 59*time.Minute {
			t.Errorf("p0 again, for another meeting: %v, want refused by its email's limit for about an hour", err)
		}
	}
	if regs, _ := b.store.Registrations(b.ctx, "m2"); len(regs) != 0 {
		t.Errorf("m2 holds %d registrations, want none: each was refused", len(regs))
	}
	// No limit (N = 0) costs no key.
	if _, _, err := replicas[0](registration(t, "m2", "free@example.org"), ratelimit.Check{Key: "ip:none", N: 0, Period: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if b.redis.Client(t).Exists(b.ctx, "cv:rl:ip:none").Val() != 0 {
		t.Error("a check that is off left a key")
	}
}

func TestRegisterBatcherCloseAnswersCallsBetweenTheirTwoSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	rb := b.store.NewRegisterBatcher()
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			email := fmt.Sprintf("p%d@example.org", i)
			_, _, errs[i] = rb.Register(b.ctx, registration(t, "m1", email), ratelimit.Check{Key: ratelimit.EmailKey(email), N: 1, Period: time.Hour})
		})
	}
	rb.Close() // while some are counted and not yet stored
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("register %d: %v", i, err)
		}
	}
	if regs, _ := b.store.Registrations(b.ctx, "m1"); len(regs) != n {
		t.Errorf("%d stored, want all %d", len(regs), n)
	}
}
