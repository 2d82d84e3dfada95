package store

import (
	"context"
	"encoding/json"

	"convene"
)

func (s *Store) remindersKey(mid string) string { return s.tag(mid) + ":x" }

// AddReminder stores an extra reminder and returns the intent to schedule
// the meeting's reminders.
func (s *Store) AddReminder(ctx context.Context, meetingID string, r convene.Reminder) ([]convene.Intent, error) {
	now := s.now()
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	res, err := addReminderScript.Run(ctx, s.rdb, []string{s.meetingKey(meetingID), s.remindersKey(meetingID), s.outboxKey(meetingID)}, r.ID, string(b), ms(now)).StringSlice()
	if err != nil {
		return nil, wrap(err, "add reminder to meeting %s", meetingID)
	}
	switch res[0] {
	case "notfound":
		return nil, convene.Errorf(convene.ENOTFOUND, "meeting %q not found", meetingID)
	case "cancelled":
		return nil, convene.Errorf(convene.ECONFLICT, "meeting %q is cancelled", meetingID)
	}
	return s.intents(meetingID, res[1:], now), nil
}

// Reminders lists a meeting's extra reminders, in no particular order.
func (s *Store) Reminders(ctx context.Context, meetingID string) ([]convene.Reminder, error) {
	h, err := s.rdb.HGetAll(ctx, s.remindersKey(meetingID)).Result()
	if err != nil {
		return nil, wrap(err, "load reminders of meeting %s", meetingID)
	}
	out := make([]convene.Reminder, 0, len(h))
	for _, v := range h {
		var r convene.Reminder
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Reminder loads one extra reminder; an unknown one is ENOTFOUND.
func (s *Store) Reminder(ctx context.Context, meetingID, id string) (convene.Reminder, error) {
	v, err := s.rdb.HGet(ctx, s.remindersKey(meetingID), id).Result()
	if err != nil {
		if isNil(err) {
			return convene.Reminder{}, convene.Errorf(convene.ENOTFOUND, "reminder %q not found", id)
		}
		return convene.Reminder{}, wrap(err, "load reminder %s", id)
	}
	var r convene.Reminder
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return convene.Reminder{}, err
	}
	return r, nil
}

// DeleteReminder deletes an extra reminder: it is not sent.
func (s *Store) DeleteReminder(ctx context.Context, meetingID, id string) error {
	n, err := s.rdb.HDel(ctx, s.remindersKey(meetingID), id).Result()
	if err != nil {
		return wrap(err, "delete reminder %s", id)
	}
	if n == 0 {
		return convene.Errorf(convene.ENOTFOUND, "reminder %q not found", id)
	}
	return nil
}
