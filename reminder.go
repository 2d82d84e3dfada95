package convene

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on extra reminders.
const (
	MaxReminderSubjectLen = 200
	MaxReminderMessageLen = 5000
)

// Reminder is one reminder of a meeting: one of its offsets before the
// start ("o-<seconds>") or an extra reminder an organiser added ("x-…")
// with its own time, subject and message.
type Reminder struct {
	ID string `json:"id"`
	// Before is the offset before the meeting's start (offsets, and extra
	// reminders given as "before"); the reminder moves with the meeting.
	Before *Offset `json:"before"`
	// SendAt is the fixed time of an extra reminder given as "send_at".
	SendAt    *time.Time `json:"send_at"`
	Subject   string     `json:"subject"`
	Message   string     `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
	// DueAt is when the reminder goes out for the meeting's current time.
	DueAt time.Time `json:"due_at"`
}

// Due returns when the reminder is due for meeting m.
func (r Reminder) Due(m Meeting) time.Time {
	if r.SendAt != nil {
		return *r.SendAt
	}
	if r.Before != nil {
		return m.StartsAt.Add(-time.Duration(*r.Before))
	}
	return m.StartsAt
}

// OffsetReminderID is the id of the reminder at offset o before the start.
func OffsetReminderID(o Offset) string {
	return "o-" + strconv.FormatInt(int64(time.Duration(o)/time.Second), 10)
}

// OffsetReminders returns the reminders of m's offsets.
func (m Meeting) OffsetReminders() []Reminder {
	out := make([]Reminder, 0, len(m.Reminders))
	for _, o := range m.Reminders {
		o := o
		r := Reminder{ID: OffsetReminderID(o), Before: &o}
		r.DueAt = r.Due(m)
		out = append(out, r)
	}
	return out
}

// ReminderInput is what an organiser sends to add an extra reminder.
type ReminderInput struct {
	SendAt  *string `json:"send_at"`
	Before  *string `json:"before"`
	Subject string  `json:"subject"`
	Message string  `json:"message"`
}

// NewReminder validates an extra reminder for meeting m at now.
func NewReminder(m Meeting, in ReminderInput, now time.Time) (Reminder, error) {
	r := Reminder{ID: NewID("x-"), CreatedAt: now.UTC().Truncate(time.Millisecond)}
	switch {
	case in.SendAt != nil && in.Before != nil:
		return Reminder{}, FieldErrorf("send_at", "give send_at or before, not both")
	case in.SendAt != nil:
		t, err := parseTime("send_at", *in.SendAt)
		if err != nil {
			return Reminder{}, err
		}
		r.SendAt = &t
	case in.Before != nil:
		d, err := time.ParseDuration(*in.Before)
		if err != nil || d <= 0 {
			return Reminder{}, FieldErrorf("before", "must be a positive duration such as 2h or 30m")
		}
		o := Offset(d)
		r.Before = &o
	default:
		return Reminder{}, FieldErrorf("send_at", "give send_at (RFC 3339) or before (a duration such as 2h)")
	}
	due := r.Due(m)
	if !due.After(now) {
		field := "send_at"
		if r.Before != nil {
			field = "before"
		}
		return Reminder{}, FieldErrorf(field, "the reminder would be due at %s, which has passed", due.Format(time.RFC3339))
	}
	if !due.Before(m.StartsAt) {
		return Reminder{}, FieldErrorf("send_at", "must be before the meeting starts")
	}
	r.Subject = strings.TrimSpace(in.Subject)
	if err := checkLine("subject", r.Subject, MaxReminderSubjectLen); err != nil {
		return Reminder{}, err
	}
	r.Message = strings.TrimSpace(strings.ReplaceAll(in.Message, "\r\n", "\n"))
	if !utf8.ValidString(r.Message) {
		return Reminder{}, FieldErrorf("message", "must be valid UTF-8")
	}
	for _, c := range r.Message {
		if c != '\n' && c != '\t' && (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
			return Reminder{}, FieldErrorf("message", "must not contain control characters")
		}
	}
	if utf8.RuneCountInString(r.Message) > MaxReminderMessageLen {
		return Reminder{}, FieldErrorf("message", "must be at most %d characters", MaxReminderMessageLen)
	}
	r.DueAt = due
	return r, nil
}
