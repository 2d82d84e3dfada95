package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"convene"
	"convene/internal/testredis"
	"convene/store"
)

func TestClaimSendLoadsAndClaimsInOneStep(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	now := time.Now()
	s := store.New(srv.Client(t), store.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	if _, err := s.CreateMeeting(ctx, meeting(t, "m1", 1)); err != nil {
		t.Fatal(err)
	}
	first, _, err := s.Register(ctx, registration(t, "m1", "a@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := s.Register(ctx, registration(t, "m1", "b@example.org"))
	if err != nil || second.Status != convene.StatusWaitlisted {
		t.Fatalf("second registration: %+v %v", second, err)
	}

	msg := convene.NoticeMessage(second)
	m, r, claim, err := s.ClaimSend(ctx, msg, time.Minute)
	if err != nil || claim != store.ClaimOK {
		t.Fatalf("claim: %q %v", claim, err)
	}
	if m.ID != "m1" || m.Title == "" || m.Timezone != "Europe/Zurich" || m.Capacity != 1 {
		t.Errorf("meeting: %+v", m)
	}
	if r.ID != second.ID || r.Email != "b@example.org" || r.Name != "Ada" || r.Status != convene.StatusWaitlisted || r.Position != 1 {
		t.Errorf("registration: %+v", r)
	}
	if _, _, claim, _ := s.ClaimSend(ctx, msg, time.Minute); claim != store.ClaimBusy {
		t.Errorf("second claim: %q, want busy", claim)
	}
	if err := s.FinishMessage(ctx, msg, store.OutcomeSent, convene.EmailSent); err != nil {
		t.Fatal(err)
	}
	if _, r, claim, _ := s.ClaimSend(ctx, msg, time.Minute); claim != store.ClaimSent || r.EmailStatus != convene.EmailSent {
		t.Errorf("after the send: %q, email status %q", claim, r.EmailStatus)
	}

	// The same ledger as ClaimMessage.
	if c, err := s.ClaimMessage(ctx, convene.NoticeMessage(first), time.Minute); err != nil || c != store.ClaimOK {
		t.Fatalf("ClaimMessage: %q %v", c, err)
	}
	if _, _, claim, _ := s.ClaimSend(ctx, convene.NoticeMessage(first), time.Minute); claim != store.ClaimBusy {
		t.Errorf("ClaimSend after ClaimMessage: %q, want busy", claim)
	}

	gone := msg
	gone.RegistrationID = "no-such-registration"
	if _, _, claim, err := s.ClaimSend(ctx, gone, time.Minute); err != nil || claim != store.ClaimGone {
		t.Errorf("unknown registration: %q %v, want gone", claim, err)
	}
	if keys := srv.Keys(t); len(keys) == 0 {
		t.Fatal("no keys")
	} else {
		for _, k := range keys {
			if k == "cv:{m:m1}:r:no-such-registration" {
				t.Error("claiming an unknown registration created its hash")
			}
		}
	}
	nomeeting := msg
	nomeeting.MeetingID = "no-such-meeting"
	if _, _, _, err := s.ClaimSend(ctx, nomeeting, time.Minute); convene.ErrorCode(err) != convene.ENOTFOUND {
		t.Errorf("unknown meeting: %v, want ENOTFOUND", err)
	}
}

func TestDoneBatcherDropsEveryIntentItIsGiven(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.ctx
	intents, err := b.store.CreateMeeting(ctx, meeting(t, "m1", 0)) // its reminders' schedule
	if err != nil {
		t.Fatal(err)
	}
	for i := range 700 { // more than a batch, and more than the queue holds
		r := registration(t, "m1", "p"+string(rune('a'+i%26))+time.Now().Format("150405.000000000")+"@example.org")
		_, in, err := b.store.Register(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		intents = append(intents, in...)
	}
	before, err := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10000)
	if err != nil || len(before) != len(intents) {
		t.Fatalf("outbox holds %d intents (%v), want %d", len(before), err, len(intents))
	}
	d := b.store.NewDoneBatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, in := range intents {
		if err := d.Done(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	d.Close() // drops what is still queued
	after, err := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10000)
	if err != nil || len(after) != 0 {
		t.Fatalf("outbox still holds %d intents (%v) after Close", len(after), err)
	}
	// After Close, Done still works, at once.
	r, in, err := b.store.Register(ctx, registration(t, "m1", "late@example.org"))
	if err != nil || r.ID == "" {
		t.Fatal(err)
	}
	for _, i := range in {
		if err := d.Done(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10); len(left) != 0 {
		t.Fatalf("after Close, Done left %v", left)
	}
}
