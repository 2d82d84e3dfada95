package convene

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Meeting kinds.
const (
	KindExpertGroupMeeting = "expert_group_meeting"
	KindSideEvent          = "side_event"
	KindTraining           = "training"
	KindWebinar            = "webinar"
	KindOther              = "other"
)

// MeetingKinds lists the accepted meeting kinds.
var MeetingKinds = []string{KindExpertGroupMeeting, KindSideEvent, KindTraining, KindWebinar, KindOther}

// Meeting statuses.
const (
	MeetingScheduled = "scheduled"
	MeetingCancelled = "cancelled"
)

// Limits on meeting fields.
const (
	MaxTitleLen     = 200
	MaxLocationLen  = 500
	MaxURLLen       = 2000
	MaxReminders    = 10
	MaxOrganisers   = 20
	DefaultDuration = time.Hour // length assumed for calendars when ends_at is absent
)

var meetingIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// Meeting is an event participants register for.
type Meeting struct {
	ID                   string     `json:"id"`
	Title                string     `json:"title"`
	Kind                 string     `json:"kind"`
	StartsAt             time.Time  `json:"starts_at"`
	EndsAt               *time.Time `json:"ends_at"`
	Timezone             string     `json:"timezone"`
	Location             string     `json:"location"`
	OnlineURL            string     `json:"online_url"`
	Capacity             int        `json:"capacity"`
	Reminders            []Offset   `json:"reminders"`
	Organisers           []string   `json:"organisers"`
	RegistrationClosesAt *time.Time `json:"registration_closes_at"`
	Status               string     `json:"status"`
	Version              int        `json:"version"`
	Counts               Counts     `json:"counts"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	// Revision counts every stored change; an update is refused when the
	// meeting's revision moved since it was read.
	Revision int64 `json:"-"`
}

// Counts are the numbers of a meeting's registrations by status.
type Counts struct {
	Confirmed  int `json:"confirmed"`
	Waitlisted int `json:"waitlisted"`
	Cancelled  int `json:"cancelled"`
}

// End returns when the meeting ends: EndsAt, or DefaultDuration after the
// start when no end was given.
func (m Meeting) End() time.Time {
	if m.EndsAt != nil {
		return *m.EndsAt
	}
	return m.StartsAt.Add(DefaultDuration)
}

// Zone returns the meeting's time zone. Meetings are validated on
// creation, so an unknown zone (which cannot happen for stored meetings)
// falls back to UTC.
func (m Meeting) Zone() *time.Location {
	if loc, ok := zones.Load(m.Timezone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(m.Timezone)
	if err != nil {
		return time.UTC
	}
	zones.Store(m.Timezone, loc)
	return loc
}

// zones caches the time zones loaded by Zone: time.LoadLocation reads and
// parses the zone's data on every call, and every email formats times.
var zones sync.Map // name → *time.Location

// Open reports why registration for the meeting is closed at now, or nil
// when it is open. The store checks the same rules atomically; this is for
// callers that want the reason.
func (m Meeting) Open(now time.Time) error {
	switch {
	case m.Status == MeetingCancelled:
		return Errorf(ECONFLICT, "meeting %s is cancelled", m.ID)
	case !now.Before(m.StartsAt):
		return Errorf(ECONFLICT, "meeting %s has started", m.ID)
	case m.RegistrationClosesAt != nil && !now.Before(*m.RegistrationClosesAt):
		return Errorf(ECONFLICT, "registration for meeting %s is closed", m.ID)
	}
	return nil
}

// Offset is a duration before a meeting's start, written in JSON as a Go
// duration string such as "24h" or "15m".
type Offset time.Duration

// MarshalText writes the offset in its shortest Go duration form ("168h",
// "1h30m", "15m") rather than time.Duration's "168h0m0s".
func (o Offset) MarshalText() ([]byte, error) {
	return []byte(FormatOffset(time.Duration(o))), nil
}

// UnmarshalText parses a Go duration string.
func (o *Offset) UnmarshalText(b []byte) error {
	d, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*o = Offset(d)
	return nil
}

// FormatOffset formats d like time.Duration.String without zero trailing
// units: 168h, 1h30m, 15m, 90s.
func FormatOffset(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseOffsets parses a comma-separated list of Go durations such as
// "168h,24h" (the REMINDER_OFFSETS format).
func ParseOffsets(s string) ([]Offset, error) {
	var out []Offset
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, Errorf(EINVALID, "%q is not a duration like 24h or 15m", part)
		}
		if d <= 0 {
			return nil, Errorf(EINVALID, "%q must be greater than zero", part)
		}
		out = append(out, Offset(d))
	}
	if len(out) > MaxReminders {
		return nil, Errorf(EINVALID, "at most %d reminders", MaxReminders)
	}
	return out, nil
}

// MeetingInput is what an organiser sends to create or change a meeting.
// Pointer fields tell "absent" from "empty".
type MeetingInput struct {
	ID                   *string   `json:"id"`
	Title                *string   `json:"title"`
	Kind                 *string   `json:"kind"`
	StartsAt             *string   `json:"starts_at"`
	EndsAt               *string   `json:"ends_at"`
	Timezone             *string   `json:"timezone"`
	Location             *string   `json:"location"`
	OnlineURL            *string   `json:"online_url"`
	Capacity             *int      `json:"capacity"`
	Reminders            *[]string `json:"reminders"`
	Organisers           *[]string `json:"organisers"`
	RegistrationClosesAt *string   `json:"registration_closes_at"`
}

// NewMeeting validates in and returns the meeting it describes, with
// defaultReminders when in names none. The ID is generated when absent.
func NewMeeting(in MeetingInput, defaultReminders []Offset, now time.Time) (Meeting, error) {
	m := Meeting{
		Kind:      KindOther,
		Status:    MeetingScheduled,
		Version:   1,
		Reminders: append([]Offset(nil), defaultReminders...),
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
	m.UpdatedAt = m.CreatedAt
	if in.ID != nil {
		if !meetingIDPattern.MatchString(*in.ID) {
			return Meeting{}, FieldErrorf("id", "must be 1 to 64 characters of a-z, 0-9 and -")
		}
		m.ID = *in.ID
	} else {
		m.ID = NewID("m-")
	}
	if in.Title == nil {
		return Meeting{}, FieldErrorf("title", "is required")
	}
	if in.StartsAt == nil {
		return Meeting{}, FieldErrorf("starts_at", "is required")
	}
	if in.Timezone == nil {
		return Meeting{}, FieldErrorf("timezone", "is required")
	}
	if err := m.apply(in); err != nil {
		return Meeting{}, err
	}
	return m, nil
}

// apply validates the fields present in in and writes them to m, then checks
// the rules that involve several fields.
func (m *Meeting) apply(in MeetingInput) error {
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		if t == "" {
			return FieldErrorf("title", "is required")
		}
		if err := checkLine("title", t, MaxTitleLen); err != nil {
			return err
		}
		m.Title = t
	}
	if in.Kind != nil {
		if !contains(MeetingKinds, *in.Kind) {
			return FieldErrorf("kind", "must be one of %s", strings.Join(MeetingKinds, ", "))
		}
		m.Kind = *in.Kind
	}
	if in.StartsAt != nil {
		t, err := parseTime("starts_at", *in.StartsAt)
		if err != nil {
			return err
		}
		m.StartsAt = t
	}
	if in.EndsAt != nil {
		if *in.EndsAt == "" {
			m.EndsAt = nil
		} else {
			t, err := parseTime("ends_at", *in.EndsAt)
			if err != nil {
				return err
			}
			m.EndsAt = &t
		}
	}
	if in.Timezone != nil {
		tz := *in.Timezone
		if tz == "" || tz == "Local" || strings.ContainsAny(tz, "\r\n") {
			return FieldErrorf("timezone", "must be an IANA time zone such as Europe/Zurich")
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return FieldErrorf("timezone", "unknown time zone %q", tz)
		}
		m.Timezone = tz
	}
	if in.Location != nil {
		l := strings.TrimSpace(*in.Location)
		if err := checkLine("location", l, MaxLocationLen); err != nil {
			return err
		}
		m.Location = l
	}
	if in.OnlineURL != nil {
		u := strings.TrimSpace(*in.OnlineURL)
		if u != "" {
			if err := checkLine("online_url", u, MaxURLLen); err != nil {
				return err
			}
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return FieldErrorf("online_url", "must be an http or https URL")
			}
		}
		m.OnlineURL = u
	}
	if in.Capacity != nil {
		if *in.Capacity < 0 {
			return FieldErrorf("capacity", "must be 0 (unlimited) or more")
		}
		m.Capacity = *in.Capacity
	}
	if in.Reminders != nil {
		if len(*in.Reminders) > MaxReminders {
			return FieldErrorf("reminders", "at most %d reminders", MaxReminders)
		}
		rs := make([]Offset, 0, len(*in.Reminders))
		for _, s := range *in.Reminders {
			d, err := time.ParseDuration(s)
			if err != nil {
				return FieldErrorf("reminders", "%q is not a duration like 24h or 15m", s)
			}
			if d <= 0 {
				return FieldErrorf("reminders", "%q must be greater than zero", s)
			}
			rs = append(rs, Offset(d))
		}
		m.Reminders = rs
	}
	if in.Organisers != nil {
		if len(*in.Organisers) > MaxOrganisers {
			return FieldErrorf("organisers", "at most %d organisers", MaxOrganisers)
		}
		os := make([]string, 0, len(*in.Organisers))
		for _, o := range *in.Organisers {
			addr, err := ParseEmail(o)
			if err != nil {
				return FieldErrorf("organisers", "%q is not a valid email address", o)
			}
			os = append(os, addr)
		}
		m.Organisers = os
	}
	if in.RegistrationClosesAt != nil {
		if *in.RegistrationClosesAt == "" {
			m.RegistrationClosesAt = nil
		} else {
			t, err := parseTime("registration_closes_at", *in.RegistrationClosesAt)
			if err != nil {
				return err
			}
			m.RegistrationClosesAt = &t
		}
	}
	if m.EndsAt != nil && !m.EndsAt.After(m.StartsAt) {
		return FieldErrorf("ends_at", "must be after starts_at")
	}
	if m.Reminders == nil {
		m.Reminders = []Offset{}
	}
	if m.Organisers == nil {
		m.Organisers = []string{}
	}
	return nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, FieldErrorf(field, "must be an RFC 3339 time such as 2026-03-01T09:00:00+01:00")
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

// ParseEmail validates a bare email address (no display name, no control
// characters, at most MaxEmailLen bytes) and returns it trimmed.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fieldRuleErrorf("email", RuleRequired, "is required")
	}
	if len(s) > MaxEmailLen {
		return "", fieldRuleErrorf("email", RuleTooLong, "must be at most %d characters", MaxEmailLen)
	}
	if hasControl(s) || strings.ContainsAny(s, " <>\",;") {
		return "", fieldRuleErrorf("email", RuleInvalid, "is not a valid email address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", fieldRuleErrorf("email", RuleInvalid, "is not a valid email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.HasPrefix(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", fieldRuleErrorf("email", RuleInvalid, "is not a valid email address")
	}
	return s, nil
}

// checkLine validates a single-line text field: valid UTF-8, no control
// characters (so it can never break a header), at most max characters.
func checkLine(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fieldRuleErrorf(field, RuleInvalid, "must be valid UTF-8")
	}
	if hasControl(s) {
		return fieldRuleErrorf(field, RuleInvalid, "must not contain control characters or line breaks")
	}
	if utf8.RuneCountInString(s) > max {
		return fieldRuleErrorf(field, RuleTooLong, "must be at most %d characters", max)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Update applies a change to m (a PATCH: only the fields present in in)
// and returns the changed meeting. When its time or place changed, the
// version goes up by one and moved is true: reminders move and confirmed
// participants are told.
func (m Meeting) Update(in MeetingInput, now time.Time) (updated Meeting, moved bool, err error) {
	if in.ID != nil && *in.ID != m.ID {
		return Meeting{}, false, FieldErrorf("id", "cannot be changed")
	}
	if m.Status == MeetingCancelled {
		return Meeting{}, false, Errorf(ECONFLICT, "meeting %s is cancelled", m.ID)
	}
	if in.StartsAt != nil && *in.StartsAt == "" {
		return Meeting{}, false, FieldErrorf("starts_at", "is required")
	}
	if in.Timezone != nil && *in.Timezone == "" {
		return Meeting{}, false, FieldErrorf("timezone", "is required")
	}
	u := m
	u.Reminders = append([]Offset(nil), m.Reminders...)
	u.Organisers = append([]string(nil), m.Organisers...)
	if err := u.apply(in); err != nil {
		return Meeting{}, false, err
	}
	moved = !u.StartsAt.Equal(m.StartsAt) || !timeEqual(u.EndsAt, m.EndsAt) || u.Location != m.Location || u.OnlineURL != m.OnlineURL
	if moved {
		u.Version++
	}
	u.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	return u, moved, nil
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
