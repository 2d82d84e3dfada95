package store

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

	"convene"
)

// Register stores a new registration for r.MeetingID, deciding its status
// atomically with the meeting's capacity, and records its notice email in
// the meeting's outbox in the same step. When the same address (compared
// case-insensitively) already holds an active registration, that one is
// returned with created false and nothing changes.
//
// A closed meeting is ECONFLICT, an unknown one ENOTFOUND.
func (s *Store) Register(ctx context.Context, r convene.Registration) (convene.Registration, bool, error) {
	mid := r.MeetingID
	confirmed, waitlisted := r, r
	confirmed.Status, waitlisted.Status = convene.StatusConfirmed, convene.StatusWaitlisted
	keys := []string{s.meetingKey(mid), s.emailsKey(mid), s.orderKey(mid), s.waitKey(mid), s.outboxKey(mid), s.regKey(mid, r.ID)}
	res, err := registerScript.Run(ctx, s.rdb, keys,
		convene.NormalizeEmail(r.Email), r.ID, r.Name, r.Email, r.Organisation, r.Language, ms(r.CreatedAt),
		convene.NoticeMessage(confirmed).Key(), convene.NoticeMessage(waitlisted).Key(),
	).StringSlice()
	if err != nil {
		return convene.Registration{}, false, wrap(err, "register for meeting %s", mid)
	}
	switch res[0] {
	case "notfound":
		return convene.Registration{}, false, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", mid)
	case "cancelled":
		return convene.Registration{}, false, convene.Errorf(convene.ECONFLICT, "meeting %q is cancelled", mid)
	case "started":
		return convene.Registration{}, false, convene.Errorf(convene.ECONFLICT, "meeting %q has already started", mid)
	case "closed":
		return convene.Registration{}, false, convene.Errorf(convene.ECONFLICT, "registration for meeting %q is closed", mid)
	case "exists":
		existing, err := s.Registration(ctx, mid, res[1])
		return existing, false, err
	case "created":
		r.Status = res[1]
		r.Seq, _ = strconv.ParseInt(res[2], 10, 64)
		r.Position, _ = strconv.Atoi(res[3])
		r.EmailStatus = convene.EmailPending
		return r, true, nil
	}
	return convene.Registration{}, false, errors.New("store: register: unexpected script answer " + res[0])
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
