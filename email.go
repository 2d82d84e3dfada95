package convene

import (
	"errors"
	"fmt"
	"strings"
)

// Email kinds, as carried in the X-Convene-Kind header.
const (
	EmailConfirmation = "confirmation"
	EmailWaitlisted   = "waitlisted"
	EmailPromoted     = "promoted"
	EmailReminder     = "reminder"
	EmailUpdated      = "updated"
	EmailCancelled    = "cancelled"
	EmailDigest       = "digest"
)

// EmailKinds lists every email kind.
var EmailKinds = []string{EmailConfirmation, EmailWaitlisted, EmailPromoted, EmailReminder, EmailUpdated, EmailCancelled, EmailDigest}

// Message identifies one logical email to a participant: the registration,
// the kind, and a variant that tells two logical messages of the same kind
// apart (the meeting version for updates, the reminder for reminders, the
// resend number for confirmations). Sending the same Message twice is what
// the delivery ledger prevents; its Message-ID is derived from it, so a
// resend after a crash carries the same id.
type Message struct {
	MeetingID      string `json:"m"`
	RegistrationID string `json:"r"`
	Kind           string `json:"k"`
	Variant        string `json:"v"`
}

// Key returns the message's identity within its meeting, for ledgers and
// task ids: "registration|kind|variant".
func (m Message) Key() string {
	return m.RegistrationID + "|" + m.Kind + "|" + m.Variant
}

// MessageID returns the RFC 5322 Message-ID of the message, without angle
// brackets, under the given mail domain.
func (m Message) MessageID(domain string) string {
	return fmt.Sprintf("%s.%s.%s.%s@%s", m.Kind, m.Variant, m.RegistrationID, m.MeetingID, domain)
}

// Validate checks that every part is present and safe in keys and headers.
func (m Message) Validate() error {
	if m.MeetingID == "" || m.RegistrationID == "" || m.Kind == "" || m.Variant == "" {
		return Errorf(EINVALID, "message needs meeting, registration, kind and variant")
	}
	for _, s := range []string{m.MeetingID, m.RegistrationID, m.Kind, m.Variant} {
		if strings.ContainsAny(s, "|{}\r\n @<>") || hasControl(s) {
			return Errorf(EINVALID, "message part %q has a forbidden character", s)
		}
	}
	if !contains(EmailKinds, m.Kind) {
		return Errorf(EINVALID, "unknown email kind %q", m.Kind)
	}
	return nil
}

// Address is a mailbox: a display name and an address.
type Address struct {
	Name    string
	Address string
}

// Email is a rendered email, ready for a mailer. Participant text reaches
// it only as body content and encoded header values, never as raw headers.
type Email struct {
	Kind           string
	MeetingID      string // for X-Convene-Meeting; empty for digests
	RegistrationID string // for X-Convene-Registration; empty for digests
	MessageID      string // without angle brackets
	To             Address
	Subject        string
	Text           string
	HTML           string
	Attachments    []Attachment
	// ListUnsubscribe is the one-click unsubscribe URL (RFC 8058), if any.
	ListUnsubscribe string
}

// Attachment is a file part of an Email, such as the .ics calendar entry.
type Attachment struct {
	Filename    string
	ContentType string // full media type, e.g. "text/calendar; charset=utf-8; method=REQUEST"
	Data        []byte
}

// Reasons a send failed, for logs and metrics.
const (
	ReasonTemporary = "temporary"       // a 4xx reply
	ReasonPermanent = "permanent"       // a 5xx reply
	ReasonNetwork   = "network"         // refused, reset or timed-out connection before the message was handed over
	ReasonUnknown   = "unknown_outcome" // the connection broke after the message body: it may have arrived
)

// SendError is how a mailer reports a failed send. Permanent failures (a 5xx
// reply) must not be retried; every other failure is temporary.
type SendError struct {
	Permanent bool
	Code      int    // the SMTP reply code, 0 when the server never answered
	Reason    string // one of the Reason* constants
	Err       error
}

// Error implements the error interface.
func (e *SendError) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("send (%s, %s, code %d): %v", kind, e.Reason, e.Code, e.Err)
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a permanent send failure.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// SendReason returns the Reason* of a send failure, or "" when err is not a
// *SendError.
func SendReason(err error) string {
	var se *SendError
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}
