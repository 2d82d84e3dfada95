package store

import (
	"context"
	"strconv"
	"time"

	"convene"
)

// Claim is the answer of the delivery ledger to "may I send this message?".
type Claim string

// Ledger answers.
const (
	ClaimOK      Claim = "ok"      // claimed: send it, then call FinishMessage
	ClaimSent    Claim = "sent"    // already sent: do nothing
	ClaimBounced Claim = "bounced" // already failed permanently: do nothing
	ClaimBusy    Claim = "busy"    // another run is sending it now: try later
)

// Outcomes of a send, for FinishMessage.
const (
	OutcomeSent    = "s" // the server accepted the message
	OutcomeBounced = "b" // the server refused it permanently
	OutcomeRetry   = "r" // a temporary failure: release the claim, the job retries
	OutcomeSkipped = "x" // nothing to send any more (e.g. the registration was cancelled)
)

// ClaimMessage checks the delivery ledger for msg and, unless it was
// already sent or is being sent, claims it for lockTTL. A claim older than
// lockTTL belongs to a run that died mid-send: it is taken over, and the
// message is sent again with the same Message-ID.
func (s *Store) ClaimMessage(ctx context.Context, msg convene.Message, lockTTL time.Duration) (Claim, error) {
	now := s.now().UnixMilli()
	res, err := claimScript.Run(ctx, s.rdb, []string{s.ledgerKey(msg.MeetingID)},
		msg.Key(), strconv.FormatInt(now, 10), strconv.FormatInt(lockTTL.Milliseconds(), 10)).Text()
	if err != nil {
		return "", wrap(err, "claim message %s", msg.Key())
	}
	return Claim(res), nil
}

// FinishMessage records the outcome of a claimed message in the ledger,
// sets the registration's email status (when emailStatus is not empty) and
// drops the message from the meeting's outbox.
func (s *Store) FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	keys := []string{s.ledgerKey(msg.MeetingID), s.regKey(msg.MeetingID, msg.RegistrationID), s.outboxKey(msg.MeetingID)}
	if err := finishScript.Run(ctx, s.rdb, keys, msg.Key(), outcome, emailStatus).Err(); err != nil {
		return wrap(err, "finish message %s", msg.Key())
	}
	return nil
}
