package templates_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"

	"convene"
)

// parse reads an .ics file with golang-ical's own parser.
func parse(t *testing.T, b []byte) *ics.Calendar {
	t.Helper()
	cal, err := ics.ParseCalendar(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ParseCalendar: %v\n%s", err, b)
	}
	return cal
}

// event returns the calendar's only event.
func event(t *testing.T, cal *ics.Calendar) *ics.VEvent {
	t.Helper()
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("calendar has %d events, want 1", len(evs))
	}
	return evs[0]
}

func prop(ev *ics.VEvent, p ics.ComponentProperty) string {
	if v := ev.GetProperty(p); v != nil {
		return v.Value
	}
	return ""
}

func calendarProp(cal *ics.Calendar, p ics.Property) string {
	for _, cp := range cal.CalendarProperties {
		if cp.IANAToken == string(p) {
			return cp.Value
		}
	}
	return ""
}

func param(p *ics.IANAProperty, name ics.Parameter) string {
	if p == nil || len(p.ICalParameters[string(name)]) != 1 {
		return ""
	}
	return p.ICalParameters[string(name)][0]
}

var jane = convene.Address{Name: "Jane Doe", Address: "jane.doe@example.com"}

func TestCalendarProperties(t *testing.T) {
	t.Parallel()
	r := setup(t)
	m := meeting()
	now := utc("2026-11-20T11:30:00+01:00")
	b, err := r.Calendar(m, jane, "REQUEST", now, "https://convene.example.org/r/tok")
	if err != nil {
		t.Fatal(err)
	}
	cal := parse(t, b)
	for p, want := range map[ics.Property]string{
		ics.PropertyVersion:   "2.0",
		ics.PropertyProductId: "-//Convene//Convene//EN",
		ics.PropertyMethod:    "REQUEST",
	} {
		if got := calendarProp(cal, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	ev := event(t, cal)
	for p, want := range map[ics.ComponentProperty]string{
		ics.ComponentPropertyUniqueId: "m-stats-2026@convene.example.org",
		ics.ComponentPropertySequence: "3",
		ics.ComponentPropertyDtstamp:  "20261120T103000Z",
		ics.ComponentPropertyDtStart:  "20261201T080000Z",
		ics.ComponentPropertyDtEnd:    "20261201T160000Z",
		ics.ComponentPropertySummary:  "Expert Group Meeting on Statistics, 2026",
		ics.ComponentPropertyLocation: "Palais des Nations, Room XVII",
		ics.ComponentPropertyUrl:      "https://meet.example.org/j/123456?pwd=a1b2",
		ics.ComponentPropertyStatus:   "CONFIRMED",
		ics.ComponentPropertyDescription: "Join online: https://meet.example.org/j/123456?pwd=a1b2\n\n" +
			"View or cancel your registration: https://convene.example.org/r/tok",
	} {
		if got := prop(ev, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	start, err := ev.GetStartAt()
	if err != nil || !start.Equal(m.StartsAt) {
		t.Errorf("GetStartAt = %v, %v; want %v", start, err, m.StartsAt)
	}
	end, err := ev.GetEndAt()
	if err != nil || !end.Equal(m.End()) {
		t.Errorf("GetEndAt = %v, %v; want %v", end, err, m.End())
	}

	org := ev.GetProperty(ics.ComponentPropertyOrganizer)
	if org == nil || org.Value != "mailto:no-reply@convene.example.org" || param(org, ics.ParameterCn) != "Convene" {
		t.Errorf("ORGANIZER = %+v", org)
	}
	atts := ev.Attendees()
	if len(atts) != 1 {
		t.Fatalf("%d attendees, want 1", len(atts))
	}
	a := atts[0]
	if a.Email() != jane.Address || param(&a.IANAProperty, ics.ParameterCn) != jane.Name ||
		a.ParticipationStatus() != ics.ParticipationStatusAccepted || param(&a.IANAProperty, ics.ParameterRsvp) != "FALSE" {
		t.Errorf("ATTENDEE = %+v", a.IANAProperty)
	}
}

func TestCalendarUIDIsStableAndSequenceFollowsVersion(t *testing.T) {
	t.Parallel()
	r := setup(t)
	m := meeting()
	var uids []string
	for version := 1; version <= 3; version++ {
		m.Version = version
		m.StartsAt = m.StartsAt.Add(time.Duration(version) * time.Hour) // moved each time
		for _, method := range []string{"REQUEST", "CANCEL"} {
			b, err := r.Calendar(m, jane, method, utc("2026-11-20T10:30:00Z"), "https://convene.example.org/r/tok")
			if err != nil {
				t.Fatal(err)
			}
			ev := event(t, parse(t, b))
			uids = append(uids, prop(ev, ics.ComponentPropertyUniqueId))
			if got, want := prop(ev, ics.ComponentPropertySequence), strconv.Itoa(version); got != want {
				t.Errorf("version %d %s: SEQUENCE = %q, want %q", version, method, got, want)
			}
			if got, want := prop(ev, ics.ComponentPropertyDtStart), m.StartsAt.UTC().Format("20060102T150405Z"); got != want {
				t.Errorf("version %d: DTSTART = %q, want %q", version, got, want)
			}
		}
	}
	for _, uid := range uids {
		if uid != "m-stats-2026@convene.example.org" {
			t.Errorf("UID = %q, want m-stats-2026@convene.example.org every time", uid)
		}
	}

	other := meeting()
	other.ID = "m-other"
	b, err := r.Calendar(other, jane, "REQUEST", utc("2026-11-20T10:30:00Z"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := prop(event(t, parse(t, b)), ics.ComponentPropertyUniqueId); got != "m-other@convene.example.org" {
		t.Errorf("other meeting's UID = %q", got)
	}
}

func TestCalendarCancel(t *testing.T) {
	t.Parallel()
	r := setup(t)
	b, err := r.Calendar(meeting(), jane, "CANCEL", utc("2026-11-20T10:30:00Z"), "https://convene.example.org/r/tok")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\r\nMETHOD:CANCEL\r\n")) || !bytes.Contains(b, []byte("\r\nSTATUS:CANCELLED\r\n")) {
		t.Errorf("no METHOD:CANCEL and STATUS:CANCELLED lines:\n%s", b)
	}
	cal := parse(t, b)
	if got := calendarProp(cal, ics.PropertyMethod); got != "CANCEL" {
		t.Errorf("METHOD = %q", got)
	}
	if got := prop(event(t, cal), ics.ComponentPropertyStatus); got != "CANCELLED" {
		t.Errorf("STATUS = %q", got)
	}
}

func TestCalendarRejectsOtherMethods(t *testing.T) {
	t.Parallel()
	r := setup(t)
	for _, method := range []string{"", "PUBLISH", "request", "REQUEST\r\nX"} {
		if _, err := r.Calendar(meeting(), jane, method, utc("2026-11-20T10:30:00Z"), ""); err == nil {
			t.Errorf("method %q: no error", method)
		}
	}
}

// TestCalendarTextRoundTrips checks golang-ical's escaping of TEXT values and
// Convene's quoting of CN parameters by reading the file back with the
// library's parser, and the raw lines against RFC 5545.
func TestCalendarTextRoundTrips(t *testing.T) {
	t.Parallel()
	r := setup(t)
	m := meeting()
	m.Title = `Budget, review; part 1\2: "final"`
	m.Location = `Room 3, floor 2; east wing \ annex`
	tests := []struct {
		name   string
		want   string // CN as read back
		rawCN  string // as written
		reject string // never written
	}{
		{`Doe, Jane; "X"`, `Doe, Jane; 'X'`, `ATTENDEE;CN="Doe, Jane; 'X'";`, `\,`},
		{`O'Brien`, `O'Brien`, `ATTENDEE;CN=O'Brien;`, `\'`},
		{`Dr. Who: Time Lord`, `Dr. Who: Time Lord`, `ATTENDEE;CN="Dr. Who: Time Lord";`, `\:`},
		{`Back\slash`, `Back/slash`, `ATTENDEE;CN=Back/slash;`, `\\`},
		{"Line\r\nBreak", `Line Break`, `ATTENDEE;CN=Line Break;`, "Line\r\n"},
	}
	for _, tt := range tests {
		b, err := r.Calendar(m, convene.Address{Name: tt.name, Address: "x@example.com"}, "REQUEST",
			utc("2026-11-20T10:30:00Z"), "https://convene.example.org/r/a,b;c")
		if err != nil {
			t.Fatal(err)
		}
		unfolded := strings.ReplaceAll(string(b), "\r\n ", "")
		if !strings.Contains(unfolded, tt.rawCN) {
			t.Errorf("name %q: no %q in\n%s", tt.name, tt.rawCN, unfolded)
		}
		if attendee := unfolded[strings.Index(unfolded, "ATTENDEE"):]; strings.Contains(attendee[:strings.Index(attendee, "\r\n")], tt.reject) {
			t.Errorf("name %q: ATTENDEE line holds %q", tt.name, tt.reject)
		}
		ev := event(t, parse(t, b))
		atts := ev.Attendees()
		if len(atts) != 1 {
			t.Fatalf("%d attendees", len(atts))
		}
		if got := param(&atts[0].IANAProperty, ics.ParameterCn); got != tt.want {
			t.Errorf("name %q: CN read back as %q, want %q", tt.name, got, tt.want)
		}
		if got := atts[0].Email(); got != "x@example.com" {
			t.Errorf("name %q: attendee address %q", tt.name, got)
		}
		if got := prop(ev, ics.ComponentPropertySummary); got != m.Title {
			t.Errorf("SUMMARY read back as %q, want %q", got, m.Title)
		}
		if got := prop(ev, ics.ComponentPropertyLocation); got != m.Location {
			t.Errorf("LOCATION read back as %q, want %q", got, m.Location)
		}
		if got := prop(ev, ics.ComponentPropertyDescription); !strings.HasSuffix(got, "\n\nView or cancel your registration: https://convene.example.org/r/a,b;c") {
			t.Errorf("DESCRIPTION read back as %q", got)
		}
	}

	b, err := r.Calendar(m, jane, "REQUEST", utc("2026-11-20T10:30:00Z"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`SUMMARY:Budget\, review\; part 1\\2: "final"`,
		`LOCATION:Room 3\, floor 2\; east wing \\ annex`,
		`DESCRIPTION:Join online: https://meet.example.org/j/123456?pwd=a1b2\n\nView`,
	} {
		if !strings.Contains(strings.ReplaceAll(string(b), "\r\n ", ""), want) {
			t.Errorf("no %q in\n%s", want, b)
		}
	}
}

// TestCalendarLinesAreFolded checks RFC 5545 §3.1: CRLF line ends, and lines
// of at most 75 octets that never split a UTF-8 character.
func TestCalendarLinesAreFolded(t *testing.T) {
	t.Parallel()
	r := setup(t)
	m := meeting()
	m.Title = strings.Repeat("Réunion du groupe d'experts sur les statistiques 统计专家组会议 ", 3)[:convene.MaxTitleLen]
	m.Title = strings.ToValidUTF8(m.Title, "")
	m.Location = strings.Repeat("x", convene.MaxLocationLen) // no space to fold at
	attendee := convene.Address{Name: strings.Repeat("名字", 60), Address: "long.name@example.com"}
	b, err := r.Calendar(m, attendee, "REQUEST", utc("2026-11-20T10:30:00Z"), "https://convene.example.org/r/"+strings.Repeat("t", 200))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("END:VCALENDAR\r\n")) {
		t.Errorf("does not end with END:VCALENDAR and CRLF")
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line %d is %d octets: %q", i+1, len(line), line)
		}
		if !utf8.ValidString(line) {
			t.Errorf("line %d splits a character: %q", i+1, line)
		}
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d holds a bare CR or LF: %q", i+1, line)
		}
	}
	ev := event(t, parse(t, b))
	if got := prop(ev, ics.ComponentPropertySummary); got != m.Title {
		t.Errorf("SUMMARY read back as %q, want %q", got, m.Title)
	}
	if got := prop(ev, ics.ComponentPropertyLocation); got != m.Location {
		t.Errorf("LOCATION read back wrong")
	}
	if got := param(&ev.Attendees()[0].IANAProperty, ics.ParameterCn); got != attendee.Name {
		t.Errorf("CN read back as %q", got)
	}
}
