package convene

import (
	"strings"
	"time"
)

// Registration statuses.
const (
	StatusConfirmed  = "confirmed"
	StatusWaitlisted = "waitlisted"
	StatusCancelled  = "cancelled"
)

// Email statuses: the fate of the latest email to a participant.
const (
	EmailPending  = "pending"
	EmailSent     = "sent"
	EmailRetrying = "retrying"
	EmailBounced  = "bounced"
)

// Limits on registration fields.
const (
	MaxNameLen         = 200
	MaxEmailLen        = 254
	MaxOrganisationLen = 200
)

// Registration is one participant's place (or place in line) at a meeting.
type Registration struct {
	ID           string    `json:"id"`
	MeetingID    string    `json:"meeting_id"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Organisation string    `json:"organisation"`
	Language     string    `json:"language"`
	Status       string    `json:"status"`
	EmailStatus  string    `json:"email_status"`
	CreatedAt    time.Time `json:"created_at"`
	// Seq is the registration's arrival order within its meeting.
	Seq int64 `json:"-"`
	// Position is the place on the waiting list (1 = next), for waitlisted
	// registrations; 0 otherwise.
	Position int `json:"-"`
}

// RegistrationInput is what a participant sends to register.
type RegistrationInput struct {
	Name         string `json:"name"`
	Email        string `json:"email"`
	Organisation string `json:"organisation"`
	Language     string `json:"language"`
}

// Problems returns every rule the input breaks, one error per field at
// fault, in the order of the form's fields (name, email, organisation,
// language); nil when the input is valid. Each is an EINVALID *Error with
// Field and Rule set.
func (in RegistrationInput) Problems() []*Error {
	var out []*Error
	add := func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
		}
	}
	if name := strings.TrimSpace(in.Name); name == "" {
		add(fieldRuleErrorf("name", RuleRequired, "is required"))
	} else {
		add(checkLine("name", name, MaxNameLen))
	}
	_, err := ParseEmail(in.Email)
	add(err)
	add(checkLine("organisation", strings.TrimSpace(in.Organisation), MaxOrganisationLen))
	if in.Language != "" && !contains(Languages, in.Language) {
		add(fieldRuleErrorf("language", RuleInvalid, "must be one of %s", strings.Join(Languages, ", ")))
	}
	return out
}

// NewRegistration validates in and returns a pending registration for the
// meeting; an invalid input is the first of its Problems. Its status is
// decided by the store, atomically with capacity.
func NewRegistration(meetingID string, in RegistrationInput, now time.Time) (Registration, error) {
	if p := in.Problems(); len(p) > 0 {
		return Registration{}, p[0]
	}
	email, _ := ParseEmail(in.Email)
	lang := in.Language
	if lang == "" {
		lang = DefaultLanguage
	}
	return Registration{
		ID:           NewID("r-"),
		MeetingID:    meetingID,
		Name:         strings.TrimSpace(in.Name),
		Email:        email,
		Organisation: strings.TrimSpace(in.Organisation),
		Language:     lang,
		EmailStatus:  EmailPending,
		CreatedAt:    now.UTC().Truncate(time.Millisecond),
	}, nil
}

// NoticeMessage returns the email that tells a new registration its status:
// a confirmation for a confirmed registration, a waiting-list notice for a
// waitlisted one. Variant "1" is the first notice; resends count up.
func NoticeMessage(r Registration) Message {
	kind := EmailConfirmation
	if r.Status == StatusWaitlisted {
		kind = EmailWaitlisted
	}
	return Message{MeetingID: r.MeetingID, RegistrationID: r.ID, Kind: kind, Variant: "1"}
}
