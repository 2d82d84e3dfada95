package templates

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"convene"
)

// view is what the templates see: participant and meeting text already
// cleaned of control characters, and times already formatted in the
// meeting's time zone and the email's language.
type view struct {
	Kind         string
	Lang         string
	Name         string
	Organisation string
	Title        string
	When         string // start (and end) in the meeting's zone, with the zone's name
	Location     string
	OnlineURL    string
	Link         string
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
// "location" or "online_url"; Old and New are empty when unset.
type change struct {
	Field    string
	Old, New string
}

func newView(d Data, lang string) view {
	l := localeFor(lang)
	m := d.Meeting
	v := view{
		Kind:             d.Message.Kind,
		Lang:             lang,
		Name:             oneLine(d.Registration.Name),
		Organisation:     oneLine(d.Registration.Organisation),
		Title:            oneLine(m.Title),
		When:             l.when(m),
		Location:         oneLine(m.Location),
		OnlineURL:        oneLine(m.OnlineURL),
		Link:             oneLine(d.Link),
		Position:         d.Registration.Position,
		ReminderSubject:  oneLine(d.ReminderSubject),
		ReminderMessage:  multiLine(d.ReminderMessage),
		MeetingCancelled: d.MeetingCancelled,
	}
	if d.Message.Kind == convene.EmailReminder {
		v.StartsIn = l.duration(m.StartsAt.Sub(d.Now))
	}
	if d.Previous != nil && d.Message.Kind == convene.EmailUpdated {
		v.Changes = changes(l, *d.Previous, m)
	}
	return v
}

// changes compares the details a participant plans around, as they would
// read them.
func changes(l *locale, prev, m convene.Meeting) []change {
	var out []change
	add := func(field, before, after string) {
		if before != after {
			out = append(out, change{Field: field, Old: before, New: after})
		}
	}
	add("start", l.instant(prev.StartsAt, prev.Zone()), l.instant(m.StartsAt, m.Zone()))
	end := func(m convene.Meeting) string {
		if m.EndsAt == nil {
			return ""
		}
		return l.instant(*m.EndsAt, m.Zone())
	}
	add("end", end(prev), end(m))
	add("location", oneLine(prev.Location), oneLine(m.Location))
	add("online_url", oneLine(prev.OnlineURL), oneLine(m.OnlineURL))
	return out
}

// samples returns views that exercise every branch of the templates, for
// New to try them.
func samples(kind, lang string) []view {
	full := view{
		Kind:            kind,
		Lang:            lang,
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
			{Field: "start", Old: "a", New: "b"},
			{Field: "end", Old: "", New: "b"},
			{Field: "location", Old: "a", New: ""},
			{Field: "online_url", Old: "a", New: "b"},
		},
		MeetingCancelled: true,
	}
	return []view{full, {Kind: kind, Lang: lang}}
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

// locale holds the words Go formats dates and durations with; sentences
// live in the templates.
type locale struct {
	days    [7]string  // from Sunday
	months  [12]string // from January
	first   string     // written after day 1 of a month: "er" in French
	day     [2]string  // singular, plural
	hour    [2]string
	minute  [2]string
	and     string
	endSpan string // between start and end on different days
}

var locales = map[string]*locale{
	"en": {
		days:    [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		months:  [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		day:     [2]string{"day", "days"},
		hour:    [2]string{"hour", "hours"},
		minute:  [2]string{"minute", "minutes"},
		and:     " and ",
		endSpan: " – ",
	},
	"fr": {
		days:    [7]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
		months:  [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
		first:   "er",
		day:     [2]string{"jour", "jours"},
		hour:    [2]string{"heure", "heures"},
		minute:  [2]string{"minute", "minutes"},
		and:     " et ",
		endSpan: " – ",
	},
}

func localeFor(lang string) *locale {
	if l, ok := locales[lang]; ok {
		return l
	}
	return locales[fallbackLanguage]
}

// date formats the day of t: "Tuesday 1 December 2026", "mardi 1er décembre 2026".
func (l *locale) date(t time.Time) string {
	d := strconv.Itoa(t.Day())
	if t.Day() == 1 {
		d += l.first
	}
	return l.days[t.Weekday()] + " " + d + " " + l.months[t.Month()-1] + " " + strconv.Itoa(t.Year())
}

// when formats a meeting's start and end in its zone:
// "Tuesday 1 December 2026, 09:00–17:00 (Europe/Geneva)". A meeting without
// an end shows its start only; one that ends on another day shows both dates.
func (l *locale) when(m convene.Meeting) string {
	loc := m.Zone()
	start := m.StartsAt.In(loc)
	s := l.date(start) + ", " + start.Format("15:04")
	if m.EndsAt != nil {
		end := m.EndsAt.In(loc)
		if y, mo, d := end.Date(); y == start.Year() && mo == start.Month() && d == start.Day() {
			s += "–" + end.Format("15:04")
		} else {
			s += l.endSpan + l.date(end) + ", " + end.Format("15:04")
		}
	}
	return s + " (" + loc.String() + ")"
}

// instant formats one moment in loc: "Tuesday 1 December 2026, 09:00 (Europe/Geneva)".
func (l *locale) instant(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return l.date(t) + ", " + t.Format("15:04") + " (" + loc.String() + ")"
}

// duration says how long d is, to the minute, in at most two units: "1 day",
// "2 days and 3 hours", "1 hour and 30 minutes", "15 minutes". It returns ""
// when d rounds to zero or less. Durations are rounded so that a reminder
// sent a few seconds late still says "1 day".
func (l *locale) duration(d time.Duration) string {
	unit := func(n int64, words [2]string) string {
		w := words[1]
		if n == 1 {
			w = words[0]
		}
		return strconv.FormatInt(n, 10) + " " + w
	}
	join := func(a int64, aw [2]string, b int64, bw [2]string) string {
		if b == 0 {
			return unit(a, aw)
		}
		return unit(a, aw) + l.and + unit(b, bw)
	}
	switch {
	case d.Round(time.Minute) <= 0:
		return ""
	case d.Round(time.Hour) >= 24*time.Hour:
		h := int64(d.Round(time.Hour) / time.Hour)
		return join(h/24, l.day, h%24, l.hour)
	case d.Round(time.Minute) >= time.Hour:
		m := int64(d.Round(time.Minute) / time.Minute)
		return join(m/60, l.hour, m%60, l.minute)
	default:
		return unit(int64(d.Round(time.Minute)/time.Minute), l.minute)
	}
}
