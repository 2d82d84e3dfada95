package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"convene"
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
