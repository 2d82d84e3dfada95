package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// CreateMeeting stores a new meeting (an id already taken is ECONFLICT)
// and returns the intent to schedule its reminders.
func (s *Store) CreateMeeting(ctx context.Context, m convene.Meeting) ([]convene.Intent, error) {
	now := s.now()
	args := append([]any{ms(now)}, meetingFields(m)...)
	args = append(args, "v", strconv.Itoa(m.Version), "st", m.Status, "ca", ms(m.CreatedAt), "vt", ms(m.CreatedAt))
	res, err := createMeetingScript.Run(ctx, s.rdb, []string{s.meetingKey(m.ID), s.outboxKey(m.ID)}, args...).StringSlice()
	if err != nil {
		return nil, wrap(err, "create meeting %s", m.ID)
	}
	if res[0] == "taken" {
		return nil, convene.Errorf(convene.ECONFLICT, "meeting id %q is taken", m.ID)
	}
	// The index is a key in another slot, written after the meeting
	// itself: a meeting is never listed before it exists. (Should this
	// write fail, the meeting exists but is not listed or swept: the
	// error makes the organiser retry, which answers 409 — so it is
	// indexed again here.)
	if err := s.index(ctx, m); err != nil {
		return nil, err
	}
	return s.intents(m.ID, res[1:], now), nil
}

func (s *Store) index(ctx context.Context, m convene.Meeting) error {
	if err := s.rdb.ZAdd(ctx, s.meetingsKey(), redis.Z{Score: float64(m.CreatedAt.UnixMilli()), Member: m.ID}).Err(); err != nil {
		return wrap(err, "index meeting %s", m.ID)
	}
	return nil
}

// UpdateMeeting stores the changed meeting u, read as old
// (convene.ErrConcurrentUpdate when another change got there first: read
// again and retry). moved says its time or place changed. It returns
// the intents the change requires: the update email, rescheduling the
// reminders, and promotions when the capacity grew.
func (s *Store) UpdateMeeting(ctx context.Context, old, u convene.Meeting, moved bool) ([]convene.Intent, error) {
	now := s.now()
	flag := "0"
	if moved {
		flag = "1"
	}
	args := append([]any{strconv.FormatInt(old.Revision, 10), ms(now), flag, strconv.Itoa(u.Version), s.tag(u.ID) + ":r:"}, meetingFields(u)...)
	res, err := updateMeetingScript.Run(ctx, s.rdb, []string{s.meetingKey(u.ID), s.waitKey(u.ID), s.outboxKey(u.ID)}, args...).StringSlice()
	if err != nil {
		return nil, wrap(err, "update meeting %s", u.ID)
	}
	switch res[0] {
	case "notfound":
		return nil, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", u.ID)
	case "cancelled":
		return nil, convene.Errorf(convene.ECONFLICT, "meeting %q is cancelled", u.ID)
	case "stale":
		return nil, convene.ErrConcurrentUpdate
	}
	return s.intents(u.ID, res[1:], now), nil
}

// CancelMeeting cancels a meeting and returns the intent to tell its
// participants; cancelling a cancelled meeting returns no intent.
func (s *Store) CancelMeeting(ctx context.Context, id string) ([]convene.Intent, error) {
	now := s.now()
	res, err := cancelMeetingScript.Run(ctx, s.rdb, []string{s.meetingKey(id), s.outboxKey(id)}, ms(now)).StringSlice()
	if err != nil {
		return nil, wrap(err, "cancel meeting %s", id)
	}
	if res[0] == "notfound" {
		return nil, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", id)
	}
	return s.intents(id, res[1:], now), nil
}

// Previous returns the meeting's time and place before its last move (nil
// when it never moved) and when that move happened.
func (s *Store) Previous(ctx context.Context, id string) (*convene.Meeting, time.Time, error) {
	m, err := s.Meeting(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	h, err := s.rdb.HMGet(ctx, s.meetingKey(id), "ps", "pe", "ploc", "purl", "vt").Result()
	if err != nil {
		return nil, time.Time{}, wrap(err, "load meeting %s", id)
	}
	str := func(v any) string { x, _ := v.(string); return x }
	movedAt := fromMS(str(h[4]))
	if str(h[0]) == "" {
		return nil, movedAt, nil
	}
	prev := m
	prev.StartsAt, prev.EndsAt, prev.Location, prev.OnlineURL = fromMS(str(h[0])), optFromMS(str(h[1])), str(h[2]), str(h[3])
	prev.Version = m.Version - 1
	return &prev, movedAt, nil
}

// meetingFields returns the hash fields of a meeting's changeable fields.
func meetingFields(m convene.Meeting) []any {
	rem := make([]string, len(m.Reminders))
	for i, r := range m.Reminders {
		rem[i] = convene.FormatOffset(time.Duration(r))
	}
	return []any{
		"title", m.Title,
		"kind", m.Kind,
		"tz", m.Timezone,
		"loc", m.Location,
		"url", m.OnlineURL,
		"rem", strings.Join(rem, ","),
		"org", strings.Join(m.Organisers, ","),
		"s", ms(m.StartsAt),
		"e", optMS(m.EndsAt),
		"c", optMS(m.RegistrationClosesAt),
		"cap", strconv.Itoa(m.Capacity),
		"ua", ms(m.UpdatedAt),
	}
}

// Meeting loads one meeting with its counts; an unknown id is ENOTFOUND.
func (s *Store) Meeting(ctx context.Context, id string) (convene.Meeting, error) {
	h, err := s.rdb.HGetAll(ctx, s.meetingKey(id)).Result()
	if err != nil {
		return convene.Meeting{}, wrap(err, "load meeting %s", id)
	}
	if len(h) == 0 {
		return convene.Meeting{}, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", id)
	}
	return parseMeeting(id, h)
}

// Meetings lists every meeting, oldest first.
func (s *Store) Meetings(ctx context.Context) ([]convene.Meeting, error) {
	ids, err := s.rdb.ZRange(ctx, s.meetingsKey(), 0, -1).Result()
	if err != nil {
		return nil, wrap(err, "list meetings")
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.meetingKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(err, "load meetings")
	}
	out := make([]convene.Meeting, 0, len(ids))
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue // erased between the index read and the load
		}
		m, err := parseMeeting(ids[i], h)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// MeetingIDs lists the ids of every meeting, oldest first.
func (s *Store) MeetingIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, s.meetingsKey(), 0, -1).Result()
	if err != nil {
		return nil, wrap(err, "list meetings")
	}
	return ids, nil
}

func parseMeeting(id string, h map[string]string) (convene.Meeting, error) {
	m := convene.Meeting{
		ID:         id,
		Title:      h["title"],
		Kind:       h["kind"],
		Timezone:   h["tz"],
		Location:   h["loc"],
		OnlineURL:  h["url"],
		Status:     h["st"],
		StartsAt:   fromMS(h["s"]),
		EndsAt:     optFromMS(h["e"]),
		CreatedAt:  fromMS(h["ca"]),
		UpdatedAt:  fromMS(h["ua"]),
		Reminders:  []convene.Offset{},
		Organisers: []string{},
	}
	m.RegistrationClosesAt = optFromMS(h["c"])
	m.Capacity, _ = strconv.Atoi(h["cap"])
	m.Version, _ = strconv.Atoi(h["v"])
	m.Counts.Confirmed, _ = strconv.Atoi(h["nc"])
	m.Counts.Waitlisted, _ = strconv.Atoi(h["nw"])
	m.Counts.Cancelled, _ = strconv.Atoi(h["nx"])
	m.Revision, _ = strconv.ParseInt(h["rev"], 10, 64)
	if h["rem"] != "" {
		rs, err := convene.ParseOffsets(h["rem"])
		if err != nil {
			return convene.Meeting{}, err
		}
		m.Reminders = rs
	}
	if h["org"] != "" {
		m.Organisers = strings.Split(h["org"], ",")
	}
	return m, nil
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func optMS(t *time.Time) string {
	if t == nil {
		return "0"
	}
	return ms(*t)
}

func fromMS(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(n).UTC()
}

func optFromMS(s string) *time.Time {
	if s == "" || s == "0" {
		return nil
	}
	t := fromMS(s)
	return &t
}
