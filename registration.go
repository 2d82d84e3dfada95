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

// NewRegistration validates in and returns a pending registration for the
// meeting. Its status is decided by the store, atomically with capacity.
func NewRegistration(meetingID string, in RegistrationInput, now time.Time) (Registration, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return Registration{}, FieldErrorf("name", "is required")
	}
	if err := checkLine("name", name, MaxNameLen); err != nil {
		return Registration{}, err
	}
	email, err := ParseEmail(in.Email)
	if err != nil {
		return Registration{}, err
	}
	org := strings.TrimSpace(in.Organisation)
	if err := checkLine("organisation", org, MaxOrganisationLen); err != nil {
		return Registration{}, err
	}
	lang := in.Language
	if lang == "" {
		lang = DefaultLanguage
	}
	if !contains(Languages, lang) {
		return Registration{}, FieldErrorf("language", "must be one of %s", strings.Join(Languages, ", "))
	}
	return Registration{
		ID:           NewID("r-"),
		MeetingID:    meetingID,
		Name:         name,
		Email:        email,
		Organisation: org,
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
