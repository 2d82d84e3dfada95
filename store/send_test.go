package store_test

import (
	"context"
	"fmt"
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
	if _, err := b.store.CreateMeeting(ctx, meeting(t, "m1", 0)); err != nil { // its reminders' schedule: the outbox
		t.Fatal(err)
	}
	for i := range 700 { // notices: more than a batch, and more than the queue holds
		if _, _, err := b.store.Register(ctx, registration(t, "m1", fmt.Sprintf("p%d@example.org", i))); err != nil {
			t.Fatal(err)
		}
	}
	intents, err := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10000)
	if err != nil || len(intents) != 701 {
		t.Fatalf("outboxes hold %d intents (%v), want 701", len(intents), err)
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
	if _, _, err := b.store.Register(ctx, registration(t, "m1", "late@example.org")); err != nil {
		t.Fatal(err)
	}
	late, err := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(late) != 1 || !late[0].Notice() {
		t.Fatalf("outboxes hold %v (%v), want the late notice", late, err)
	}
	if err := d.Done(ctx, late[0]); err != nil {
		t.Fatal(err)
	}
	if left, _ := b.store.StaleIntents(ctx, time.Now().Add(time.Hour), 10); len(left) != 0 {
		t.Fatalf("after Close, Done left %v", left)
	}
}

func TestRegisterStartsANoticesSenderOnlyWhenNoneRuns(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	now := time.Now()
	s := store.New(srv.Client(t), store.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	if _, err := s.CreateMeeting(ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	register := func(email string) []convene.Intent {
		t.Helper()
		r := registration(t, "m1", email)
		r.CreatedAt = now
		_, intents, err := s.Register(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return intents
	}
	starts := func(intents []convene.Intent) bool {
		return len(intents) == 1 && intents[0].Type == convene.IntentNotices && intents[0].MeetingID == "m1" && intents[0].Variant != ""
	}
	first := register("a@example.org")
	if !starts(first) {
		t.Fatalf("first registration: %v, want a notices intent", first)
	}
	if got := register("b@example.org"); len(got) != 0 {
		t.Fatalf("with a sender running: %v, want none", got)
	}
	// The sender takes a batch (renewing its mark), then finds none left.
	if msgs, err := s.TakeNotices(ctx, "m1", 10); err != nil || len(msgs) != 2 || msgs[0].Kind != convene.EmailConfirmation {
		t.Fatalf("take: %v %v", msgs, err)
	}
	now = now.Add(store.NoticesSenderTimeout - time.Second)
	if got := register("c@example.org"); len(got) != 0 {
		t.Fatalf("sender took a batch %v ago: %v, want none", time.Second-store.NoticesSenderTimeout, got)
	}
	// Silent for longer than NoticesSenderTimeout: presumed gone.
	now = now.Add(store.NoticesSenderTimeout)
	second := register("d@example.org")
	if !starts(second) || second[0].Variant == first[0].Variant {
		t.Fatalf("sender silent for too long: %v, want a new notices intent (not %v)", second, first)
	}
	// Taking leaves the notices pending until they are finished.
	if msgs, _ := s.TakeNotices(ctx, "m1", 10); len(msgs) != 4 {
		t.Fatalf("take: %d notices, want 4", len(msgs))
	}
	msgs, _ := s.TakeNotices(ctx, "m1", 10)
	for _, m := range msgs {
		if err := s.FinishMessage(ctx, m, store.OutcomeSent, convene.EmailSent); err != nil {
			t.Fatal(err)
		}
	}
	if msgs, err := s.TakeNotices(ctx, "m1", 10); err != nil || len(msgs) != 0 {
		t.Fatalf("after finishing: %v %v", msgs, err)
	}
	// None left: the mark is gone, and the next registration starts one.
	if got := register("e@example.org"); !starts(got) {
		t.Fatalf("after the sender found none left: %v, want a notices intent", got)
	}
}
