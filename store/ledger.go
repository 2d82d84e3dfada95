package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
)

// Claim is the answer of the delivery ledger to "may I send this message?".
type Claim string

// Ledger answers.
const (
	ClaimOK      Claim = "ok"      // claimed: send it, then call FinishMessage
	ClaimSent    Claim = "sent"    // already sent: do nothing
	ClaimBounced Claim = "bounced" // already failed permanently: do nothing
	ClaimBusy    Claim = "busy"    // another run is sending it now: try later
	ClaimGone    Claim = "gone"    // the registration no longer exists
)

// Outcomes of a send, for FinishMessage.
const (
	OutcomeSent    = "s" // the server accepted the message
	OutcomeBounced = "b" // the server refused it permanently
	OutcomeRetry   = "r" // a temporary failure: release the claim, the job retries
	OutcomeSkipped = "x" // nothing to send any more (e.g. the registration was cancelled)
)

// The ledger lives in the registration's hash, one field per message, so
// erasing the registration erases its ledger with it.
func ledgerField(msg convene.Message) string { return "m:" + msg.Kind + "|" + msg.Variant }

// ClaimMessage checks the delivery ledger for msg and, unless it was
// already sent or is being sent, claims it for lockTTL. A claim older than
// lockTTL belongs to a run that died mid-send: it is taken over, and the
// message is sent again with the same Message-ID.
func (s *Store) ClaimMessage(ctx context.Context, msg convene.Message, lockTTL time.Duration) (Claim, error) {
	claims, err := s.ClaimMessages(ctx, msg.MeetingID, []string{msg.RegistrationID}, msg.Kind, msg.Variant, lockTTL)
	if err != nil {
		return "", err
	}
	return claims[0], nil
}

// ClaimSend loads msg's meeting and registration and claims msg in the
// ledger (see ClaimMessage), in one round trip: ClaimSends for one message.
func (s *Store) ClaimSend(ctx context.Context, msg convene.Message, lockTTL time.Duration) (convene.Meeting, convene.Registration, Claim, error) {
	m, claims, regs, err := s.ClaimSends(ctx, msg.MeetingID, []convene.Message{msg}, lockTTL)
	if err != nil {
		return convene.Meeting{}, convene.Registration{}, "", err
	}
	return m, regs[0], claims[0], nil
}

// ClaimMessages claims one message kind and variant for many registrations
// of a meeting in one round trip (see ClaimMessage); the answers are in the
// order of registrationIDs.
func (s *Store) ClaimMessages(ctx context.Context, meetingID string, registrationIDs []string, kind, variant string, lockTTL time.Duration) ([]Claim, error) {
	if len(registrationIDs) == 0 {
		return nil, nil
	}
	keys := make([]string, len(registrationIDs))
	for i, id := range registrationIDs {
		keys[i] = s.regKey(meetingID, id)
	}
	field := ledgerField(convene.Message{Kind: kind, Variant: variant})
	res, err := claimScript.Run(ctx, s.rdb, keys, field, strconv.FormatInt(s.now().UnixMilli(), 10), strconv.FormatInt(lockTTL.Milliseconds(), 10)).StringSlice()
	if err != nil {
		return nil, wrap(err, "claim %s for %d registrations", field, len(keys))
	}
	out := make([]Claim, len(res))
	for i, r := range res {
		out[i] = Claim(r)
	}
	return out, nil
}

// FinishMessage records the outcome of a claimed message in the ledger,
// sets the registration's email status (when emailStatus is not empty) and
// drops the message's intent from the meeting's outbox.
func (s *Store) FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	args := func(int) ([]string, []any) { return s.finishArgs(msg, outcome, emailStatus) }
	var waits []*redis.IntCmd
	cmds := batch.RunScripts(ctx, s.rdb, finishScript, 1, args, func(p redis.Pipeliner) { waits = append(waits, s.queueWait(ctx, p)) })
	if err := cmds[0].Err(); err != nil {
		return wrap(err, "finish message %s", msg.Key())
	}
	return s.waited(waits...)
}

// finishArgs are the keys and arguments of finish.lua for one message.
func (s *Store) finishArgs(msg convene.Message, outcome, emailStatus string) ([]string, []any) {
	in := convene.EmailIntent(msg)
	keys := []string{s.regKey(msg.MeetingID, msg.RegistrationID), s.outboxOf(in), s.meetingKey(msg.MeetingID), s.bounceLogKey(msg.MeetingID)}
	return keys, []any{ledgerField(msg), outcome, emailStatus, in.Key(), msg.RegistrationID}
}
