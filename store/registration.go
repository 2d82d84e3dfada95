package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
	"convene/ratelimit"
)

// Register stores a new registration for r.MeetingID, deciding its status
// atomically with the meeting's capacity, and records its notice email in
// the meeting's notices outbox in the same step. The only intent it
// returns is a NoticesIntent, when no job is sending the meeting's notices
// and the caller must start one. When the same address (compared
// case-insensitively) already holds an active registration, that one is
// returned (with another id than r's) and nothing changes.
//
// A closed meeting is ECONFLICT, an unknown one ENOTFOUND.
//
// The request is first counted against the limits, in one round trip, and
// only if all allow it is it stored: a refused one (*ratelimit.RefusedError,
// ETOOMANY) stores nothing. The limits' keys are of other slots than the
// meeting's, so they are never in the register script.
func (s *Store) Register(ctx context.Context, r convene.Registration, limits ...ratelimit.Check) (convene.Registration, []convene.Intent, error) {
	if err := s.countLimits(ctx, limits); err != nil {
		return convene.Registration{}, nil, err
	}
	args := func(int) ([]string, []any) { return s.registerArgs(r) }
	var waits []*redis.IntCmd
	cmds := batch.RunScripts(ctx, s.rdb, registerScript, 1, args, func(p redis.Pipeliner) { waits = append(waits, s.queueWait(ctx, p)) })
	res, err := cmds[0].StringSlice()
	if err == nil && len(res) > 0 && res[0] == "created" {
		err = s.waited(waits...)
	}
	return s.registered(ctx, r, res, err)
}

// limits returns the limit windows, under the store's prefix.
func (s *Store) limits() ratelimit.Windows { return ratelimit.Windows{Prefix: s.prefix} }

// countLimits counts one request against limits in one round trip, and
// when one refuses it asks in another when its window ends.
func (s *Store) countLimits(ctx context.Context, limits []ratelimit.Check) error {
	if !slices.ContainsFunc(limits, ratelimit.Check.On) {
		return nil
	}
	counts := make([]*redis.IntCmd, len(limits))
	w := s.limits()
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for j, ch := range limits {
			if ch.On() {
				counts[j] = w.Count(ctx, p, ch)
			}
		}
		return nil
	})
	first, err := ratelimit.Counted(limits, counts)
	if err != nil || first < 0 {
		return err
	}
	var left *redis.DurationCmd
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		left = w.Left(ctx, p, limits[first])
		return nil
	})
	return &ratelimit.RefusedError{Check: first, Wait: ratelimit.Wait(limits[first], left)}
}

// registerArgs returns the keys and arguments of the register script for r.
func (s *Store) registerArgs(r convene.Registration) ([]string, []any) {
	mid := r.MeetingID
	confirmed, waitlisted := r, r
	confirmed.Status, waitlisted.Status = convene.StatusConfirmed, convene.StatusWaitlisted
	keys := []string{s.meetingKey(mid), s.emailsKey(mid), s.orderKey(mid), s.waitKey(mid), s.noticesKey(mid), s.regKey(mid, r.ID)}
	return keys, []any{
		convene.NormalizeEmail(r.Email), r.ID, r.Name, r.Email, r.Organisation, r.Language, ms(r.CreatedAt),
		convene.EmailIntent(convene.NoticeMessage(confirmed)).Key(), convene.EmailIntent(convene.NoticeMessage(waitlisted)).Key(),
		NoticesSenderTimeout.Milliseconds(),
	}
}

// registered turns the register script's answer for r (res, or the error
// err) into Register's results.
func (s *Store) registered(ctx context.Context, r convene.Registration, res []string, err error) (convene.Registration, []convene.Intent, error) {
	mid := r.MeetingID
	if err != nil {
		return convene.Registration{}, nil, wrap(err, "register for meeting %s", mid)
	}
	switch res[0] {
	case "notfound":
		return convene.Registration{}, nil, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", mid)
	case "cancelled":
		return convene.Registration{}, nil, convene.Errorf(convene.ECONFLICT, "meeting %q is cancelled", mid)
	case "started":
		return convene.Registration{}, nil, convene.Errorf(convene.ECONFLICT, "meeting %q has already started", mid)
	case "closed":
		return convene.Registration{}, nil, convene.Errorf(convene.ECONFLICT, "registration for meeting %q is closed", mid)
	case "exists":
		existing, err := s.Registration(ctx, mid, res[1])
		return existing, nil, err
	case "created":
		r.Status = res[1]
		r.Seq, _ = strconv.ParseInt(res[2], 10, 64)
		r.Position, _ = strconv.Atoi(res[3])
		r.EmailStatus = convene.EmailPending
		var intents []convene.Intent
		if len(res) > 5 && res[5] != "" {
			intents = append(intents, convene.NoticesIntent(mid, res[5]))
		}
		return r, intents, nil
	}
	return convene.Registration{}, nil, errors.New("store: register: unexpected script answer " + res[0])
}

// Registration loads one registration, with its waiting-list position.
func (s *Store) Registration(ctx context.Context, meetingID, id string) (convene.Registration, error) {
	var h *redis.MapStringStringCmd
	var rank *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, s.regKey(meetingID, id))
		rank = p.ZRank(ctx, s.waitKey(meetingID), id)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return convene.Registration{}, wrap(err, "load registration %s", id)
	}
	if len(h.Val()) == 0 {
		return convene.Registration{}, convene.Errorf(convene.ENOTFOUND, "registration %q not found", id)
	}
	r := parseRegistration(meetingID, id, h.Val())
	if rank.Err() == nil && r.Status == convene.StatusWaitlisted {
		r.Position = int(rank.Val()) + 1
	}
	return r, nil
}

// Registrations lists a meeting's registrations in registration order.
func (s *Store) Registrations(ctx context.Context, meetingID string) ([]convene.Registration, error) {
	return s.registrationsBy(ctx, meetingID, "-inf", "+inf")
}

// RegistrationsBySeq lists the registrations whose arrival number is in
// [from, to], in order: the unit of work of a fan-out batch.
func (s *Store) RegistrationsBySeq(ctx context.Context, meetingID string, from, to int64) ([]convene.Registration, error) {
	return s.registrationsBy(ctx, meetingID, strconv.FormatInt(from, 10), strconv.FormatInt(to, 10))
}

func (s *Store) registrationsBy(ctx context.Context, meetingID, min, max string) ([]convene.Registration, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.orderKey(meetingID), &redis.ZRangeBy{Min: min, Max: max}).Result()
	if err != nil {
		return nil, wrap(err, "list registrations of meeting %s", meetingID)
	}
	cmds := make([]*redis.MapStringStringCmd, len(zs))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range zs {
			cmds[i] = p.HGetAll(ctx, s.regKey(meetingID, z.Member.(string)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(err, "load registrations of meeting %s", meetingID)
	}
	out := make([]convene.Registration, 0, len(zs))
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			continue // erased meanwhile
		}
		out = append(out, parseRegistration(meetingID, zs[i].Member.(string), c.Val()))
	}
	return out, nil
}

// LastSeq returns the arrival number of the meeting's latest registration.
func (s *Store) LastSeq(ctx context.Context, meetingID string) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.meetingKey(meetingID), "seq").Int64()
	if err != nil && !isNil(err) {
		return 0, wrap(err, "load meeting %s", meetingID)
	}
	return v, nil
}

// CancelRegistration cancels a registration on its participant's behalf
// and returns the intents: the participant's "cancelled" email and a
// "promoted" email for whoever got the seat. Cancelling twice is a no-op
// (no intents).
func (s *Store) CancelRegistration(ctx context.Context, meetingID, id string) (convene.Registration, []convene.Intent, error) {
	r, err := s.Registration(ctx, meetingID, id)
	if err != nil {
		return convene.Registration{}, nil, err
	}
	now := s.now()
	keys := []string{s.meetingKey(meetingID), s.regKey(meetingID, id), s.emailsKey(meetingID), s.waitKey(meetingID), s.outboxKey(meetingID), s.cancelLogKey(meetingID)}
	res, err := cancelRegistrationScript.Run(ctx, s.rdb, keys, ms(now), id, convene.NormalizeEmail(r.Email), s.tag(meetingID)+":r:").StringSlice()
	if err != nil {
		return convene.Registration{}, nil, wrap(err, "cancel registration %s", id)
	}
	switch res[0] {
	case "notfound":
		return convene.Registration{}, nil, convene.Errorf(convene.ENOTFOUND, "registration %q not found", id)
	case "meetingcancelled":
		return convene.Registration{}, nil, convene.Errorf(convene.ECONFLICT, "the meeting is cancelled: there is nothing left to cancel")
	}
	r.Status, r.Position = convene.StatusCancelled, 0
	return r, s.intents(meetingID, res[1:], now), nil
}

// ResendLock is how long a registration's notice cannot be resent after a
// resend.
const ResendLock = 10 * time.Minute

// Resend records that the notice (confirmation or waitlist notice) of the
// active registration of email in the meeting goes out again, at most once
// per ResendLock. It returns no intent when there is no such registration
// or the lock holds: the caller answers the same either way.
func (s *Store) Resend(ctx context.Context, meetingID, email string) ([]convene.Intent, error) {
	now := s.now()
	keys := []string{s.meetingKey(meetingID), s.emailsKey(meetingID), s.outboxKey(meetingID)}
	res, err := resendScript.Run(ctx, s.rdb, keys, convene.NormalizeEmail(email), ms(now), strconv.FormatInt(ResendLock.Milliseconds(), 10), s.tag(meetingID)).StringSlice()
	if err != nil {
		return nil, wrap(err, "resend for meeting %s", meetingID)
	}
	return s.intents(meetingID, res[1:], now), nil
}

// Erase deletes a registration and every trace of its person from the
// meeting's keys (registration, address index, order, waiting list,
// ledger, outbox). It returns the intents for whoever got a freed seat and
// the messages the ledger knew of, whose jobs the caller should delete.
func (s *Store) Erase(ctx context.Context, meetingID, id string) ([]convene.Intent, []convene.Message, error) {
	r, err := s.Registration(ctx, meetingID, id)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	keys := []string{s.meetingKey(meetingID), s.regKey(meetingID, id), s.emailsKey(meetingID), s.orderKey(meetingID), s.waitKey(meetingID), s.outboxKey(meetingID), s.cancelLogKey(meetingID), s.bounceLogKey(meetingID), s.noticesKey(meetingID)}
	res, err := eraseScript.Run(ctx, s.rdb, keys, id, convene.NormalizeEmail(r.Email), ms(now), s.tag(meetingID)).StringSlice()
	if err != nil {
		return nil, nil, wrap(err, "erase registration %s", id)
	}
	if res[0] == "notfound" {
		return nil, nil, convene.Errorf(convene.ENOTFOUND, "registration %q not found", id)
	}
	n, _ := strconv.Atoi(res[1])
	intents := s.intents(meetingID, res[2:2+n], now)
	var msgs []convene.Message
	for _, kv := range res[2+n:] {
		if kind, variant, ok := strings.Cut(kv, "|"); ok {
			msgs = append(msgs, convene.Message{MeetingID: meetingID, RegistrationID: id, Kind: kind, Variant: variant})
		}
	}
	return intents, msgs, nil
}

func parseRegistration(meetingID, id string, h map[string]string) convene.Registration {
	r := convene.Registration{
		ID:           id,
		MeetingID:    meetingID,
		Name:         h["n"],
		Email:        h["e"],
		Organisation: h["o"],
		Language:     h["l"],
		Status:       h["s"],
		EmailStatus:  h["es"],
		CreatedAt:    fromMS(h["t"]),
	}
	r.Seq, _ = strconv.ParseInt(h["q"], 10, 64)
	return r
}
