package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"convene"
	"convene/internal/testredis"
	"convene/store"
)

// primaryWithReplica starts a primary and a replica of it, on loopback
// ports, and waits until the replica is in sync.
func primaryWithReplica(t *testing.T) (primary, replica *testredis.Server) {
	t.Helper()
	port := testredis.FreePort(t)
	primary = testredis.Start(t, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--repl-diskless-sync-delay", "0")
	replica = testredis.Start(t, "--port", strconv.Itoa(testredis.FreePort(t)), "--bind", "127.0.0.1", "--replicaof", "127.0.0.1", strconv.Itoa(port))
	replica.WaitInSync(t)
	return primary, replica
}

func TestWithWaitAWriteIsAcknowledgedOnlyOnceReplicated(t *testing.T) {
	t.Parallel()
	primary, replica := primaryWithReplica(t)
	ctx := context.Background()
	s := store.New(primary.Client(t), store.WithWait(1, 200*time.Millisecond))
	rb := s.NewRegisterBatcher()
	t.Cleanup(rb.Close)
	if _, err := s.CreateMeeting(ctx, meeting(t, "m1", 0)); err != nil {
		t.Fatal(err)
	}
	// The unbatched path and the batcher.
	registers := []func(convene.Registration) (convene.Registration, []convene.Intent, error){
		func(r convene.Registration) (convene.Registration, []convene.Intent, error) {
			return s.Register(ctx, r)
		},
		func(r convene.Registration) (convene.Registration, []convene.Intent, error) {
			return rb.Register(ctx, r)
		},
	}
	for i, register := range registers {
		r := registration(t, "m1", "up-"+strconv.Itoa(i)+"@example.org")
		if _, _, err := register(r); err != nil {
			t.Fatalf("with the replica up: %v", err)
		}
		if n := replica.Client(t).Exists(ctx, "cv:{m:m1}:r:"+r.ID).Val(); n != 1 {
			t.Errorf("acknowledged, but the replica does not hold the registration")
		}
	}

	replica.Stop()
	for i, register := range registers {
		r := registration(t, "m1", "down-"+strconv.Itoa(i)+"@example.org")
		start := time.Now()
		_, _, err := register(r)
		if code := convene.ErrorCode(err); code != convene.EUNAVAILABLE {
			t.Fatalf("replica down, register %d: %v (code %q), want EUNAVAILABLE\n%s", i, err, code, replica.Log())
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the refusal took %v, want about the 200 ms WAIT timeout", took)
		}
		// Stored on the primary all the same: the retry finds it, and
		// nothing is registered twice.
		again := registration(t, "m1", r.Email)
		got, _, err := register(again)
		if err != nil || got.ID != r.ID {
			t.Errorf("retry: %s (%v), want the stored %s", got.ID, err, r.ID)
		}
	}
	// A send recorded in the ledger waits the same way, alone and batched:
	// the job is not acknowledged, and its retry finds the mark.
	fb := s.NewFinishBatcher()
	t.Cleanup(fb.Close)
	regs, err := s.Registrations(ctx, "m1")
	if err != nil || len(regs) < 2 {
		t.Fatalf("registrations: %d, %v", len(regs), err)
	}
	for i, finish := range []func(convene.Message) error{
		func(m convene.Message) error { return s.FinishMessage(ctx, m, store.OutcomeSent, convene.EmailSent) },
		func(m convene.Message) error { return fb.FinishMessage(ctx, m, store.OutcomeSent, convene.EmailSent) },
	} {
		msg := convene.NoticeMessage(regs[i])
		if _, _, claim, err := s.ClaimSend(ctx, msg, time.Minute); err != nil || claim != store.ClaimOK {
			t.Fatalf("claim %d: %q %v", i, claim, err)
		}
		if err := finish(msg); convene.ErrorCode(err) != convene.EUNAVAILABLE {
			t.Errorf("finish %d with the replica down: %v, want EUNAVAILABLE", i, err)
		}
		if _, _, claim, _ := s.ClaimSend(ctx, msg, time.Minute); claim != store.ClaimSent {
			t.Errorf("after finish %d: claim %q, want sent (the mark is on the primary)", i, claim)
		}
	}
}
