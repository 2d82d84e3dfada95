package templates

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"convene"
)

// Calendar methods (RFC 5546) Calendar accepts.
const (
	methodRequest = "REQUEST"
	methodCancel  = "CANCEL"
)

// productID is the calendar's PRODID.
const productID = "-//Convene//Convene//EN"

// Calendar builds the .ics file of a meeting for one attendee: method
// "REQUEST" (add or update the entry) or "CANCEL" (remove it; STATUS is
// CANCELLED). The event's UID is {meeting id}@{sender domain}, the same for
// every version of the meeting, and its SEQUENCE is the meeting's Version, so
// calendars replace the entry they hold. Times are in UTC; now is the
// DTSTAMP. The description, in English, gives the online link and the
// personal link (Participant writes it in the participant's language).
func (r *Renderer) Calendar(m convene.Meeting, attendee convene.Address, method string, now time.Time, link string) ([]byte, error) {
	kind := ""
	if method == methodCancel {
		kind = convene.EmailCancelled // the description then offers no cancel link
	}
	desc, err := r.description(r.kinds[convene.EmailConfirmation][fallbackLanguage], view{
		Kind:      kind,
		Lang:      fallbackLanguage,
		Title:     oneLine(m.Title),
		OnlineURL: oneLine(m.OnlineURL),
		Link:      oneLine(link),
	})
	if err != nil {
		return nil, err
	}
	return r.calendar(m, attendee, method, now, m.OnlineURL, desc)
}

func (r *Renderer) calendar(m convene.Meeting, attendee convene.Address, method string, now time.Time, onlineURL, desc string) ([]byte, error) {
	var status ics.ObjectStatus
	switch method {
	case methodRequest:
		status = ics.ObjectStatusConfirmed
	case methodCancel:
		status = ics.ObjectStatusCancelled
	default:
		return nil, convene.Errorf(convene.EINVALID, "templates: calendar method %q is neither %s nor %s", method, methodRequest, methodCancel)
	}

	cal := ics.NewCalendarFor("Convene")
	cal.SetProductId(productID)
	cal.SetMethod(ics.Method(method))
	e := cal.AddEvent(m.ID + "@" + r.domain)
	e.SetDtStampTime(now.UTC())
	e.SetSequence(m.Version)
	e.SetStartAt(m.StartsAt.UTC())
	e.SetEndAt(m.End().UTC())
	e.SetSummary(oneLine(m.Title))
	onlineURL = oneLine(onlineURL)
	if loc := oneLine(m.Location); loc != "" {
		e.SetLocation(loc)
	} else if onlineURL != "" {
		e.SetLocation(onlineURL)
	}
	if onlineURL != "" {
		e.SetURL(onlineURL)
	}
	if desc = multiLine(desc); desc != "" {
		e.SetDescription(desc)
	}
	e.SetStatus(status)
	addCalAddress(e, ics.ComponentPropertyOrganizer, r.from, nil)
	addCalAddress(e, ics.ComponentPropertyAttendee, attendee, map[string][]string{
		string(ics.ParameterParticipationStatus): {string(ics.ParticipationStatusAccepted)},
		string(ics.ParameterRsvp):                {"FALSE"},
	})

	b := getBuffer()
	defer putBuffer(b)
	// The library's default line ending is the platform's ("\n" on Unix);
	// RFC 5545 wants CRLF.
	if err := cal.SerializeTo(b, ics.WithNewLineWindows); err != nil {
		return nil, fmt.Errorf("templates: calendar for meeting %s: %w", m.ID, err)
	}
	return bytes.Clone(b.Bytes()), nil
}

// addCalAddress adds an ORGANIZER or ATTENDEE property for a to e, with the
// display name as its CN parameter.
//
// golang-ical v0.3.4 writes parameter values (except ALTREP) unquoted, with
// backslash escapes before , ; : " ' and \ — "CN=Doe\, Jane" and
// "CN=O\'Brien". RFC 5545 parameter values have no escapes: a value with
// , ; or : must be a quoted string, so other calendars would cut such a
// name apart or show the backslashes. The CN is therefore written here, in
// the property name the library prints as it is, and the library still
// orders the other parameters, escapes nothing else, and folds the line.
func addCalAddress(e *ics.VEvent, prop ics.ComponentProperty, a convene.Address, params map[string][]string) {
	token := string(prop)
	if cn := paramValue(a.Name); cn != "" {
		token += ";" + string(ics.ParameterCn) + "=" + cn
	}
	if params == nil {
		params = map[string][]string{}
	}
	e.Properties = append(e.Properties, ics.IANAProperty{BaseProperty: ics.BaseProperty{
		IANAToken:      token,
		ICalParameters: params,
		Value:          "mailto:" + a.Address,
	}})
}

// paramReplacer is built once: a Replacer prepares its tables on first use.
var paramReplacer = strings.NewReplacer(`"`, `'`, `\`, `/`)

// paramValue returns s as an RFC 5545 parameter value: on one line, quoted
// when it holds , ; or :. A double quote cannot appear in a parameter value
// at all (RFC 6868's ^' is read by few clients), so it becomes a single
// quote; a backslash, which RFC 5545 allows but many parsers (golang-ical's
// own among them) take for an escape, becomes a slash. The name is only a
// label in the calendar; the email shows it unchanged.
func paramValue(s string) string {
	s = paramReplacer.Replace(oneLine(s))
	if strings.ContainsAny(s, ",;:") {
		return `"` + s + `"`
	}
	return s
}
