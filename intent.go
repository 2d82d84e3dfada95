package convene

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Intent types.
const (
	IntentEmail    = "e" // one email to one participant
	IntentFanout   = "f" // one email kind to many participants (reminder, updated, cancelled)
	IntentSchedule = "s" // schedule the reminders of a meeting version
	IntentNotices  = "n" // send a meeting's pending registration notices (never stored)
)

// Intent is follow-up work a state change requires, recorded in the
// meeting's outbox atomically with the change. The process that made the
// change enqueues its job and drops the intent; if it dies first, the
// sweep finds the intent and enqueues it. So a change that was answered
// with 2xx always leads to its emails.
type Intent struct {
	Type      string
	MeetingID string
	// For IntentEmail: the message. For IntentFanout: Kind and Variant.
	// For IntentSchedule: Variant is the meeting version.
	RegistrationID string
	Kind           string
	Variant        string
	// At is when the intent was recorded.
	At time.Time
}

// NoticesIntent returns the intent to start sending the pending
// registration notices of a meeting. It is not an outbox entry: the
// meeting records that a sender is running, and nonce (the arrival number
// of the registration that started it) tells one run's job from another's.
func NoticesIntent(meetingID, nonce string) Intent {
	return Intent{Type: IntentNotices, MeetingID: meetingID, Variant: nonce}
}

// Notice reports whether the intent is a registration's first notice (its
// confirmation or waiting-list email). Those wait in the meeting's notices
// outbox, which one job per meeting sends in batches, rather than in the
// outbox with the rest.
func (i Intent) Notice() bool {
	return i.Type == IntentEmail && i.Variant == "1" && (i.Kind == EmailConfirmation || i.Kind == EmailWaitlisted)
}

// EmailIntent returns the intent to send msg.
func EmailIntent(msg Message) Intent {
	return Intent{Type: IntentEmail, MeetingID: msg.MeetingID, RegistrationID: msg.RegistrationID, Kind: msg.Kind, Variant: msg.Variant}
}

// Message returns the message of an IntentEmail.
func (i Intent) Message() Message {
	return Message{MeetingID: i.MeetingID, RegistrationID: i.RegistrationID, Kind: i.Kind, Variant: i.Variant}
}

// Fanout returns the fan-out of an IntentFanout.
func (i Intent) Fanout() Fanout {
	return Fanout{MeetingID: i.MeetingID, Kind: i.Kind, Variant: i.Variant}
}

// Key returns the intent's member in the meeting's outbox.
func (i Intent) Key() string {
	switch i.Type {
	case IntentEmail:
		return IntentEmail + "|" + i.Message().Key()
	case IntentFanout:
		return IntentFanout + "|" + i.Kind + "|" + i.Variant
	case IntentNotices:
		return IntentNotices + "|" + i.Variant
	default:
		return IntentSchedule + "|" + i.Variant
	}
}

// ParseIntent parses an outbox member of meeting meetingID recorded at at.
func ParseIntent(meetingID, key string, at time.Time) (Intent, error) {
	parts := strings.Split(key, "|")
	i := Intent{Type: parts[0], MeetingID: meetingID, At: at}
	switch {
	case parts[0] == IntentEmail && len(parts) == 4:
		i.RegistrationID, i.Kind, i.Variant = parts[1], parts[2], parts[3]
	case parts[0] == IntentFanout && len(parts) == 3:
		i.Kind, i.Variant = parts[1], parts[2]
	case parts[0] == IntentSchedule && len(parts) == 2:
		i.Variant = parts[1]
	default:
		return Intent{}, fmt.Errorf("bad outbox entry %q", key)
	}
	return i, nil
}

// Fanout is one email kind sent to many participants of a meeting: a
// reminder (Variant "<reminder id>.<meeting version>"), an update (Variant
// the meeting version) or the meeting's cancellation (Variant "meeting").
type Fanout struct {
	MeetingID string `json:"m"`
	Kind      string `json:"k"`
	Variant   string `json:"v"`
}

// ReminderVariant is the fan-out variant of a reminder for a meeting version.
func ReminderVariant(reminderID string, version int) string {
	return reminderID + ".v" + strconv.Itoa(version)
}

// ParseReminderVariant splits a reminder variant into its reminder id and
// meeting version.
func ParseReminderVariant(v string) (reminderID string, version int, ok bool) {
	i := strings.LastIndex(v, ".v")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(v[i+2:])
	if err != nil {
		return "", 0, false
	}
	return v[:i], n, true
}

// UpdateVariant is the fan-out variant of the update to a meeting version.
func UpdateVariant(version int) string { return "v" + strconv.Itoa(version) }

// Variant used for cancellation emails.
const (
	CancelledMeeting = "meeting" // the meeting was cancelled
	CancelledSelf    = "self"    // the participant cancelled
)
