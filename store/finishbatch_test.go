package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"convene"
	"convene/store"
)

// claimedNotices registers n participants of meeting m1 and claims their
// notices, as a notices job does before sending.
func claimedNotices(t *testing.T, b bundle, n int) []convene.Message {
	t.Helper()
	if _, err := b.store.CreateMeeting(b.ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	msgs := make([]convene.Message, n)
	for i := range msgs {
		r, _, err := b.store.Register(b.ctx, registration(t, "m1", fmt.Sprintf("p%d@example.org", i)))
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = convene.NoticeMessage(r)
		if _, _, claim, err := b.store.ClaimSend(b.ctx, msgs[i], time.Minute); err != nil || claim != store.ClaimOK {
			t.Fatalf("claim %d: %q %v", i, claim, err)
		}
	}
	return msgs
}

func TestFinishBatcherRecordsEachOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msgs := claimedNotices(t, b, 300)
	outcome := func(i int) (string, string) {
		switch i % 3 {
		case 0:
			return store.OutcomeSent, convene.EmailSent
		case 1:
			return store.OutcomeBounced, convene.EmailBounced
		default:
			return store.OutcomeRetry, convene.EmailRetrying
		}
	}

	f := b.store.NewFinishBatcher()
	defer f.Close()
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() {
			o, status := outcome(i)
			errs[i] = f.FinishMessage(b.ctx, msgs[i], o, status)
		})
	}
	wg.Wait()

	for i, msg := range msgs {
		if errs[i] != nil {
			t.Fatalf("finish %d: %v", i, errs[i])
		}
		o, status := outcome(i)
		want := map[string]store.Claim{
			store.OutcomeSent:    store.ClaimSent,
			store.OutcomeBounced: store.ClaimBounced,
			store.OutcomeRetry:   store.ClaimOK, // released: the next attempt may claim it
		}[o]
		_, r, claim, err := b.store.ClaimSend(b.ctx, msg, time.Minute)
		if err != nil || claim != want || r.EmailStatus != status {
			t.Errorf("message %d after %q: claim %q, email status %q (%v); want %q, %q", i, o, claim, r.EmailStatus, err, want, status)
		}
	}
	// Sent and bounced notices left the outbox; those to retry stay.
	intents, err := b.store.StaleIntents(b.ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	notices := 0
	for _, in := range intents {
		if in.Notice() {
			notices++
		}
	}
	if notices != len(msgs)/3 {
		t.Errorf("%d notices left in the outbox, want the %d to retry", notices, len(msgs)/3)
	}
}

func TestFinishBatcherSurvivesLostScriptsAndRedisDownAndWorksAfterClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msgs := claimedNotices(t, b, 4)
	f := b.store.NewFinishBatcher()
	sent := func(i int) {
		t.Helper()
		if _, _, claim, err := b.store.ClaimSend(b.ctx, msgs[i], time.Minute); err != nil || claim != store.ClaimSent {
			t.Errorf("message %d: claim %q (%v), want sent", i, claim, err)
		}
	}

	// Redis lost its scripts (as after a restart without them).
	if err := b.redis.Client(t).ScriptFlush(b.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.FinishMessage(b.ctx, msgs[0], store.OutcomeSent, convene.EmailSent); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	sent(0)

	// Redis down: an error, not a hang and not a nil.
	b.redis.Stop()
	done := make(chan error, 1)
	go func() { done <- f.FinishMessage(b.ctx, msgs[1], store.OutcomeSent, convene.EmailSent) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Redis down: FinishMessage returned nil")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Redis down: FinishMessage did not return within 30 s")
	}
	b.redis.Restart()
	if err := f.FinishMessage(b.ctx, msgs[1], store.OutcomeSent, convene.EmailSent); err != nil {
		t.Fatalf("after Redis came back: %v", err)
	}
	sent(1)

	// After Close, each call writes at once.
	f.Close()
	f.Close() // twice is fine
	for _, i := range []int{2, 3} {
		if err := f.FinishMessage(b.ctx, msgs[i], store.OutcomeSent, convene.EmailSent); err != nil {
			t.Fatalf("after Close: %v", err)
		}
		sent(i)
	}
}
