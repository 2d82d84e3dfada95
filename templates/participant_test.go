package templates_test

import (
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"

	"convene"
	"convene/templates"
)

func TestParticipantRendersEveryKindInEveryLanguage(t *testing.T) {
	t.Parallel()
	r := setup(t)
	for _, kind := range templates.ParticipantKinds {
		for _, lang := range convene.Languages {
			t.Run(kind+"."+lang, func(t *testing.T) {
				t.Parallel()
				d := data(kind, lang)
				e, err := r.Participant(d)
				if err != nil {
					t.Fatalf("Participant: %v", err)
				}
				if e.Kind != kind || e.MeetingID != d.Meeting.ID || e.RegistrationID != d.Registration.ID {
					t.Errorf("Kind, MeetingID, RegistrationID = %q, %q, %q; want %q, %q, %q",
						e.Kind, e.MeetingID, e.RegistrationID, kind, d.Meeting.ID, d.Registration.ID)
				}
				if want := d.Message.MessageID(senderDomain); e.MessageID != want {
					t.Errorf("MessageID = %q, want %q", e.MessageID, want)
				}
				if want := (convene.Address{Name: "Jane Doe", Address: "jane.doe@example.com"}); e.To != want {
					t.Errorf("To = %+v, want %+v", e.To, want)
				}
				if e.Subject == "" || strings.ContainsAny(e.Subject, "\r\n") {
					t.Errorf("Subject = %q, want one non-empty line", e.Subject)
				}
				for part, body := range map[string]string{"text": e.Text, "html": e.HTML} {
					if !strings.Contains(body, d.Link) {
						t.Errorf("%s part lacks the personal link %s", part, d.Link)
					}
					if !strings.Contains(body, d.Meeting.Title) {
						t.Errorf("%s part lacks the title", part)
					}
				}
				if !strings.Contains(e.Text, "Europe/Zurich") || !strings.Contains(e.Text, "2026") {
					t.Errorf("text part lacks the local times with the zone:\n%s", e.Text)
				}
				dir := "ltr"
				if lang == "ar" {
					dir = "rtl"
				}
				if want := `<html lang="` + lang + `" dir="` + dir + `">`; !strings.Contains(e.HTML, want) {
					t.Errorf("HTML part lacks %s", want)
				}
				if lang != "en" {
					en, err := r.Participant(data(kind, "en"))
					if err != nil {
						t.Fatal(err)
					}
					if e.Subject == en.Subject && d.ReminderSubject == "" {
						t.Errorf("subject %q is the English one", e.Subject)
					}
				}
			})
		}
	}
}

func TestParticipantFallsBackToEnglish(t *testing.T) {
	t.Parallel()
	r := setup(t)
	for _, kind := range templates.ParticipantKinds {
		en, err := r.Participant(data(kind, "en"))
		if err != nil {
			t.Fatal(err)
		}
		for _, lang := range []string{"", "xx", "EN", "de"} {
			got, err := r.Participant(data(kind, lang))
			if err != nil {
				t.Fatalf("%s.%s: %v", kind, lang, err)
			}
			if got.Subject != en.Subject || got.Text != en.Text || got.HTML != en.HTML {
				t.Errorf("%s.%s is not the English email", kind, lang)
			}
		}
	}
}

func TestParticipantRejectsOtherKinds(t *testing.T) {
	t.Parallel()
	r := setup(t)
	for _, kind := range []string{convene.EmailDigest, "", "unknown", "Confirmation"} {
		_, err := r.Participant(data(kind, "en"))
		if err == nil {
			t.Errorf("kind %q: no error", kind)
		} else if code := convene.ErrorCode(err); code != convene.EINVALID {
			t.Errorf("kind %q: error code %q, want %q (%v)", kind, code, convene.EINVALID, err)
		}
	}
}

func TestParticipantAttachments(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		kind        string
		filename    string
		contentType string
		method      string
		status      string
	}{
		{convene.EmailConfirmation, "invite.ics", "text/calendar; charset=utf-8; method=REQUEST", "REQUEST", "CONFIRMED"},
		{convene.EmailWaitlisted, "", "", "", ""},
		{convene.EmailPromoted, "invite.ics", "text/calendar; charset=utf-8; method=REQUEST", "REQUEST", "CONFIRMED"},
		{convene.EmailReminder, "invite.ics", "text/calendar; charset=utf-8; method=REQUEST", "REQUEST", "CONFIRMED"},
		{convene.EmailUpdated, "invite.ics", "text/calendar; charset=utf-8; method=REQUEST", "REQUEST", "CONFIRMED"},
		{convene.EmailCancelled, "cancel.ics", "text/calendar; charset=utf-8; method=CANCEL", "CANCEL", "CANCELLED"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			e, err := r.Participant(data(tt.kind, "fr"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.filename == "" {
				if len(e.Attachments) != 0 {
					t.Fatalf("got %d attachments, want none", len(e.Attachments))
				}
				return
			}
			if len(e.Attachments) != 1 {
				t.Fatalf("got %d attachments, want 1", len(e.Attachments))
			}
			a := e.Attachments[0]
			if a.Filename != tt.filename || a.ContentType != tt.contentType {
				t.Errorf("attachment %q (%q), want %q (%q)", a.Filename, a.ContentType, tt.filename, tt.contentType)
			}
			cal := parse(t, a.Data)
			if got := calendarProp(cal, ics.PropertyMethod); got != tt.method {
				t.Errorf("METHOD = %q, want %q", got, tt.method)
			}
			ev := event(t, cal)
			if got := prop(ev, ics.ComponentPropertyStatus); got != tt.status {
				t.Errorf("STATUS = %q, want %q", got, tt.status)
			}
			// Participant writes the description in the participant's language.
			cat, err := templates.NewCatalogue()
			if err != nil {
				t.Fatal(err)
			}
			online, _ := cat.Language("fr").T("calendar.join_online", "URL", "")
			if got := prop(ev, ics.ComponentPropertyDescription); !strings.Contains(got, strings.TrimSpace(online)) {
				t.Errorf("DESCRIPTION = %q, want French (%q)", got, online)
			}
		})
	}
}

func TestParticipantTextIsData(t *testing.T) {
	t.Parallel()
	r := setup(t)
	const (
		name    = `Eve <script>alert(1)</script> {{.Link}}`
		org     = `{{template "footer" .}} & <b>Co</b>`
		title   = `Budget {{.Link}} <img src=x onerror=alert(1)> & "review", 'now'`
		place   = `Room </td><script>alert(2)</script>`
		message = "<script>alert(3)</script>\r\n{{.Name}} & {{printf \"%s\" 1}}\r\nbye"
	)
	for _, kind := range templates.ParticipantKinds {
		for _, lang := range convene.Languages {
			t.Run(kind+"."+lang, func(t *testing.T) {
				t.Parallel()
				d := data(kind, lang)
				d.Registration.Name = name
				d.Registration.Organisation = org
				d.Meeting.Title = title
				d.Meeting.Location = place
				if d.Previous != nil {
					d.Previous.Title = title
				}
				if kind == convene.EmailReminder {
					d.ReminderSubject = ""
					d.ReminderMessage = message
				}
				e, err := r.Participant(d)
				if err != nil {
					t.Fatalf("Participant: %v", err)
				}

				for _, bad := range []string{"<script", "<img", "<b>"} {
					if strings.Contains(e.HTML, bad) {
						t.Errorf("HTML contains %q:\n%s", bad, e.HTML)
					}
				}
				for _, want := range []string{
					`Eve &lt;script&gt;alert(1)&lt;/script&gt; {{.Link}}`,
					`{{template &#34;footer&#34; .}} &amp; &lt;b&gt;Co&lt;/b&gt;`,
					`Budget {{.Link}} &lt;img src=x onerror=alert(1)&gt; &amp; &#34;review&#34;, &#39;now&#39;`,
					`Room &lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;`,
				} {
					if !strings.Contains(e.HTML, want) {
						t.Errorf("HTML lacks %q", want)
					}
				}

				for _, want := range []string{name, org, title, place} {
					if !strings.Contains(e.Text, want) {
						t.Errorf("text part lacks the literal %q", want)
					}
				}
				if !strings.Contains(e.Subject, title) {
					t.Errorf("Subject = %q, want the literal title", e.Subject)
				}

				if kind == convene.EmailReminder {
					if want := "<script>alert(3)</script>\n{{.Name}} & {{printf \"%s\" 1}}\nbye"; !strings.Contains(e.Text, want) {
						t.Errorf("text part lacks the reminder message %q:\n%s", want, e.Text)
					}
					if want := "&lt;script&gt;alert(3)&lt;/script&gt;<br>\n{{.Name}} &amp; {{printf &#34;%s&#34; 1}}<br>\nbye"; !strings.Contains(e.HTML, want) {
						t.Errorf("HTML lacks the reminder message %q:\n%s", want, e.HTML)
					}
				}

				if len(e.Attachments) > 0 {
					ev := event(t, parse(t, e.Attachments[0].Data))
					if got := prop(ev, ics.ComponentPropertySummary); got != title {
						t.Errorf("SUMMARY = %q, want %q", got, title)
					}
					if got := prop(ev, ics.ComponentPropertyLocation); got != place {
						t.Errorf("LOCATION = %q, want %q", got, place)
					}
				}
			})
		}
	}
}

func TestParticipantSubjectIsOneLine(t *testing.T) {
	t.Parallel()
	r := setup(t)
	d := data(convene.EmailReminder, "en")
	d.ReminderSubject = "Bring\r\nBcc: victim@example.com\n\tyour   badge\u2028now\x00"
	e, err := r.Participant(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Bring Bcc: victim@example.com your badge now"; e.Subject != want {
		t.Errorf("Subject = %q, want %q", e.Subject, want)
	}

	d = data(convene.EmailConfirmation, "en")
	d.Meeting.Title = "Two\r\nlines"
	if e, err = r.Participant(d); err != nil {
		t.Fatal(err)
	}
	if want := "Registration confirmed: Two lines"; e.Subject != want {
		t.Errorf("Subject = %q, want %q", e.Subject, want)
	}
}

func TestParticipantReminderSaysWhen(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		before   string // how long before the start the reminder renders
		en, ru   string
		starting bool
	}{
		{"168h", "starts in 7 days", "7 дней", true},
		{"24h", "starts in 1 day", "1 день", true},
		{"23h59m58s", "starts in 1 day", "1 день", true},
		{"50h", "starts in 2 days and 2 hours", "2 дня и 2 часа", true},
		{"1h30m", "starts in 1 hour and 30 minutes", "1 час и 30 минут", true},
		{"2h", "starts in 2 hours", "2 часа", true},
		{"15m", "starts in 15 minutes", "15 минут", true},
		{"0s", "", "", false},
		{"-1h", "", "", false},
	}
	for _, tt := range tests {
		before, err := time.ParseDuration(tt.before)
		if err != nil {
			t.Fatal(err)
		}
		for lang, want := range map[string]string{"en": tt.en, "ru": tt.ru} {
			d := data(convene.EmailReminder, lang)
			d.ReminderSubject = ""
			d.Now = d.Meeting.StartsAt.Add(-before)
			e, err := r.Participant(d)
			if err != nil {
				t.Fatal(err)
			}
			if tt.starting {
				if !strings.Contains(e.Subject, want) || !strings.Contains(e.Text, want) {
					t.Errorf("%s before, %s: subject %q or text lacks %q", tt.before, lang, e.Subject, want)
				}
			} else if want := say(t, lang, "reminder.subject", "Title", d.Meeting.Title); e.Subject != want {
				t.Errorf("%s before, %s: subject %q, want %q, which does not say when it starts", tt.before, lang, e.Subject, want)
			}
		}
	}
}

func TestParticipantUpdatedListsChanges(t *testing.T) {
	t.Parallel()
	r := setup(t)

	d := data(convene.EmailUpdated, "en")
	prev := d.Meeting
	prev.Location = "Room XII"
	prev.EndsAt = nil
	d.Previous = &prev
	e, err := r.Participant(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- End: (none) → Tuesday, 1 December 2026, 17:00 (Europe/Zurich time)\n",
		"- Where: Room XII → Palais des Nations, Room XVII\n",
	} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, e.Text)
		}
	}
	for _, unchanged := range []string{"- Start:", "- Online:"} {
		if strings.Contains(e.Text, unchanged) {
			t.Errorf("text part lists an unchanged detail %q", unchanged)
		}
	}

	d.Previous = nil
	if e, err = r.Participant(d); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Text, "What changed") {
		t.Errorf("text part lists changes without a previous meeting:\n%s", e.Text)
	}
}

func TestParticipantMeetingWithoutEnd(t *testing.T) {
	t.Parallel()
	r := setup(t)
	d := data(convene.EmailConfirmation, "en")
	d.Meeting.EndsAt = nil
	d.Meeting.Location = ""
	e, err := r.Participant(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "When: Tuesday, 1 December 2026, 09:00 (Europe/Zurich time)\nOnline: "; !strings.Contains(e.Text, want) {
		t.Errorf("text part lacks %q:\n%s", want, e.Text)
	}
	ev := event(t, parse(t, e.Attachments[0].Data))
	// Without an end the calendar assumes convene.DefaultDuration, and
	// without a place the online link is the location.
	if got := prop(ev, ics.ComponentPropertyDtEnd); got != "20261201T090000Z" {
		t.Errorf("DTEND = %q, want 20261201T090000Z", got)
	}
	if got := prop(ev, ics.ComponentPropertyLocation); got != d.Meeting.OnlineURL {
		t.Errorf("LOCATION = %q, want the online link", got)
	}
}

func TestParticipantShowsLocalTimes(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		name       string
		start, end string
		zone       string
		en, zh     string
	}{
		{
			name: "summer time, over two days", zone: zone,
			start: "2026-07-01T07:00:00Z", end: "2026-07-02T15:00:00Z",
			en: "Wednesday, 1 July 2026, 09:00 – Thursday, 2 July 2026, 17:00 (Europe/Zurich time)",
			zh: "2026年7月1日星期三",
		},
		{
			name: "other side of the date line", zone: "Pacific/Auckland",
			start: "2026-03-14T20:30:00Z", end: "2026-03-14T22:00:00Z",
			en: "Sunday, 15 March 2026, 09:30–11:00 (Pacific/Auckland time)",
			zh: "2026年3月15日星期日",
		},
		{
			name: "unknown zone shows UTC", zone: "Mars/Olympus_Mons",
			start: "2026-08-31T23:00:00Z", end: "2026-09-01T01:00:00Z",
			en: "Monday, 31 August 2026, 23:00 – Tuesday, 1 September 2026, 01:00 (UTC time)",
			zh: "2026年8月31日星期一",
		},
	}
	for _, tt := range tests {
		for lang, want := range map[string]string{"en": tt.en, "zh": tt.zh} {
			d := data(convene.EmailConfirmation, lang)
			d.Meeting.StartsAt = utc(tt.start)
			d.Meeting.EndsAt = ptr(utc(tt.end))
			d.Meeting.Timezone = tt.zone
			e, err := r.Participant(d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.Text, want) || !strings.Contains(e.HTML, want) {
				t.Errorf("%s, %s: no %q in\n%s", tt.name, lang, want, e.Text)
			}
			ev := event(t, parse(t, e.Attachments[0].Data))
			if got, want := prop(ev, ics.ComponentPropertyDtStart), utc(tt.start).Format("20060102T150405Z"); got != want {
				t.Errorf("%s: DTSTART = %q, want %q", tt.name, got, want)
			}
		}
	}
}
