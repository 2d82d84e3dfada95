package templates

import (
	"cmp"
	"strings"
	"time"
	"unicode"

	"convene"
)

// view is what the templates see: participant and meeting text already
// cleaned of control characters, and times already formatted in the
// meeting's time zone and the email's language.
type view struct {
	Kind string
	Lang string
	// Dir is "ltr" or "rtl"; Start and End are the CSS sides text starts
	// and ends on ("left" and "right" in a left-to-right language), and
	// Arrow points from old to new.
	Dir, Start, End, Arrow string
	Name                   string
	Organisation           string
	Title                  string
	When                   string // start (and end) in the meeting's zone, with the zone's name
	Location               string
	OnlineURL              string
	Link                   string
	// Position is the place on the waiting list, for "waitlisted".
	Position int
	// StartsIn is how long until the meeting starts ("1 day"), for
	// "reminder"; empty when it has started.
	StartsIn        string
	ReminderSubject string
	ReminderMessage string // plain text; lines separated by "\n"
	// Changes lists what changed, for "updated".
	Changes []change
	// MeetingCancelled is Data.MeetingCancelled, for "cancelled".
	MeetingCancelled bool
}

// change is one changed detail of a meeting. Field is "start", "end",
// "location" or "online_url", and Label its name in the email's language;
// Old and New are empty when unset, and OldText and NewText then say so.
// Text is the whole change, "old → new".
type change struct {
	Field, Label     string
	Old, New         string
	OldText, NewText string
	Text             string
}

// changeLabels are the catalogue keys of the changed details' names.
var changeLabels = map[string]string{"start": "updated.start", "end": "updated.end", "location": "email.where", "online_url": "email.online"}

// direction sets a view's Dir, Start, End and Arrow for l.
func direction(l *Language) (dir, start, end, arrow string) {
	if l.Dir == "rtl" {
		return "rtl", "right", "left", "←"
	}
	return "ltr", "left", "right", "→"
}

func newView(d Data, l *Language) (view, error) {
	m := d.Meeting
	when, err := l.When(m)
	if err != nil {
		return view{}, err
	}
	v := view{
		Kind:             d.Message.Kind,
		Lang:             l.Code,
		Name:             oneLine(d.Registration.Name),
		Organisation:     oneLine(d.Registration.Organisation),
		Title:            oneLine(m.Title),
		When:             when,
		Location:         oneLine(m.Location),
		OnlineURL:        oneLine(m.OnlineURL),
		Link:             oneLine(d.Link),
		Position:         d.Registration.Position,
		ReminderSubject:  oneLine(d.ReminderSubject),
		ReminderMessage:  multiLine(d.ReminderMessage),
		MeetingCancelled: d.MeetingCancelled,
	}
	v.Dir, v.Start, v.End, v.Arrow = direction(l)
	if d.Message.Kind == convene.EmailReminder {
		if v.StartsIn, err = l.Duration(m.StartsAt.Sub(d.Now)); err != nil {
			return view{}, err
		}
	}
	if d.Previous != nil && d.Message.Kind == convene.EmailUpdated {
		if v.Changes, err = changes(l, *d.Previous, m); err != nil {
			return view{}, err
		}
	}
	return v, nil
}

// changes compares the details a participant plans around, as they would
// read them.
func changes(l *Language, prev, m convene.Meeting) ([]change, error) {
	var out []change
	add := func(field, before, after string) {
		if before != after {
			out = append(out, change{Field: field, Old: before, New: after})
		}
	}
	at := func(t *time.Time, loc *time.Location) (string, error) {
		if t == nil {
			return "", nil
		}
		return l.Instant(*t, loc)
	}
	var times [4]string
	for i, t := range []struct {
		at  *time.Time
		loc *time.Location
	}{{&prev.StartsAt, prev.Zone()}, {&m.StartsAt, m.Zone()}, {prev.EndsAt, prev.Zone()}, {m.EndsAt, m.Zone()}} {
		s, err := at(t.at, t.loc)
		if err != nil {
			return nil, err
		}
		times[i] = s
	}
	add("start", times[0], times[1])
	add("end", times[2], times[3])
	add("location", oneLine(prev.Location), oneLine(m.Location))
	add("online_url", oneLine(prev.OnlineURL), oneLine(m.OnlineURL))
	none, err := l.T("updated.none")
	if err != nil {
		return nil, err
	}
	_, _, _, arrow := direction(l)
	for i, c := range out {
		if out[i].Label, err = l.T(changeLabels[c.Field]); err != nil {
			return nil, err
		}
		out[i].OldText, out[i].NewText = cmp.Or(c.Old, none), cmp.Or(c.New, none)
		out[i].Text = out[i].OldText + " " + arrow + " " + out[i].NewText
	}
	return out, nil
}

// samples returns views that exercise every branch of the templates, for
// New to try them.
func samples(kind string, l *Language) []view {
	full := view{
		Kind:            kind,
		Lang:            l.Code,
		Name:            "Sample Name",
		Organisation:    "Sample Organisation",
		Title:           "Sample meeting",
		When:            "Tuesday 1 December 2026, 09:00–17:00 (Europe/Geneva)",
		Location:        "Sample room",
		OnlineURL:       "https://meet.example.org/sample",
		Link:            "https://convene.example.org/r/sample",
		Position:        3,
		StartsIn:        "1 day",
		ReminderSubject: "Sample subject",
		ReminderMessage: "Sample\nmessage",
		Changes: []change{
			{Field: "start", Label: "Start", Old: "a", New: "b", OldText: "a", NewText: "b", Text: "a → b"},
			{Field: "location", Label: "Where", Old: "a", OldText: "a", NewText: "(none)", Text: "a → (none)"},
		},
		MeetingCancelled: true,
	}
	bare := view{Kind: kind, Lang: l.Code}
	noSubject := full
	noSubject.ReminderSubject, noSubject.Organisation, noSubject.MeetingCancelled = "", "", false
	out := []view{full, bare, noSubject}
	for i := range out {
		out[i].Dir, out[i].Start, out[i].End, out[i].Arrow = direction(l)
	}
	return out
}

// oneLine returns s as a single line: every run of white space (line breaks
// included) becomes one space, other control characters go, and the ends
// are trimmed. Subjects and single-line fields pass through it, so no
// participant text can break a line it was not meant to.
func oneLine(s string) string {
	if isOneLine(s) {
		return s // the common case, without allocating
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// isOneLine reports whether oneLine would return s unchanged, looking at
// printable ASCII only: anything else takes the long way.
func isOneLine(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			if i == 0 || i == len(s)-1 || s[i-1] == ' ' {
				return false
			}
		case c < ' ' || c >= 0x7f:
			return false
		}
	}
	return true
}

// lineBreaks turns every line break into "\n" (built once: a Replacer
// prepares its tables on first use).
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n")

// multiLine returns s with "\n" line breaks (from CRLF, CR and the Unicode
// line separators), no other control characters but tabs, no trailing
// spaces on its lines and no leading or trailing blank lines.
func multiLine(s string) string {
	s = lineBreaks.Replace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}
