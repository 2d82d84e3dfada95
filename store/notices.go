package store

import (
	"context"
	"fmt"
	"time"

	"convene"
)

// NoticesSenderTimeout is how long a job sending a meeting's registration
// notices may go without taking a batch before it is presumed gone (its
// worker died, or its task was never enqueued because the web process died
// first); the next registration then starts another. Two senders at once
// are harmless: the delivery ledger gives each message to one of them.
const NoticesSenderTimeout = 30 * time.Second

// TakeNotices returns up to max of the meeting's pending registration
// notices, oldest first, and renews the mark that a sender runs; with none
// left it drops the mark in the same step (see NoticesSenderTimeout). The
// notices stay pending until FinishMessage or Done drops them.
func (s *Store) TakeNotices(ctx context.Context, meetingID string, max int) ([]convene.Message, error) {
	now := s.now()
	members, err := takeNoticesScript.Run(ctx, s.rdb, []string{s.meetingKey(meetingID), s.noticesKey(meetingID)}, max, now.UnixMilli()).StringSlice()
	if err != nil {
		return nil, wrap(err, "take the notices of meeting %s", meetingID)
	}
	out := make([]convene.Message, 0, len(members))
	for _, m := range members {
		in, err := convene.ParseIntent(meetingID, m, now)
		if err != nil || !in.Notice() {
			return nil, fmt.Errorf("notices outbox of meeting %s holds %q", meetingID, m)
		}
		out = append(out, in.Message())
	}
	return out, nil
}

// ClaimSends loads the meeting and the registrations of msgs (messages of
// that meeting) and claims each message in the delivery ledger (see
// ClaimMessage), all in one round trip. The registration's hash holds its
// ledger, so each claim sees the same state as the registration returned.
// Answers are in the order of msgs; a registration that no longer exists
// is ClaimGone with a zero Registration. The error is ENOTFOUND when the
// meeting does not exist.
func (s *Store) ClaimSends(ctx context.Context, meetingID string, msgs []convene.Message, lockTTL time.Duration) (convene.Meeting, []Claim, []convene.Registration, error) {
	keys := make([]string, 0, 2+len(msgs))
	keys = append(keys, s.meetingKey(meetingID), s.waitKey(meetingID))
	args := make([]any, 0, 2+2*len(msgs))
	args = append(args, s.now().UnixMilli(), lockTTL.Milliseconds())
	for _, m := range msgs {
		keys = append(keys, s.regKey(meetingID, m.RegistrationID))
		args = append(args, ledgerField(m))
	}
	for _, m := range msgs {
		args = append(args, m.RegistrationID)
	}
	res, err := claimSendsScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return convene.Meeting{}, nil, nil, wrap(err, "claim %d messages of meeting %s", len(msgs), meetingID)
	}
	if len(res) == 0 || len(pairs(res[0])) == 0 {
		return convene.Meeting{}, nil, nil, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", meetingID)
	}
	if len(res) != 1+3*len(msgs) {
		return convene.Meeting{}, nil, nil, fmt.Errorf("claim messages of meeting %s: %d answers for %d messages", meetingID, len(res), len(msgs))
	}
	m, err := parseMeeting(meetingID, pairs(res[0]))
	if err != nil {
		return convene.Meeting{}, nil, nil, err
	}
	claims := make([]Claim, len(msgs))
	regs := make([]convene.Registration, len(msgs))
	for i, msg := range msgs {
		answer, _ := res[1+3*i].(string)
		claims[i] = Claim(answer)
		if h := pairs(res[2+3*i]); len(h) > 0 {
			regs[i] = parseRegistration(meetingID, msg.RegistrationID, h)
			if rank, ok := res[3+3*i].(int64); ok && rank >= 0 && regs[i].Status == convene.StatusWaitlisted {
				regs[i].Position = int(rank) + 1
			}
		}
	}
	return m, claims, regs, nil
}

// pairs turns a Lua array of field, value, field, value… (HGETALL inside
// a script) into a map.
func pairs(v any) map[string]string {
	a, _ := v.([]any)
	h := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		k, _ := a[i].(string)
		val, _ := a[i+1].(string)
		h[k] = val
	}
	return h
}
