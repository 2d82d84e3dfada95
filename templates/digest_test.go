package templates_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"convene"
	"convene/templates"
)

// digestZone is DIGEST_TIMEZONE in the digest tests: far enough from the
// meetings' Zurich that the digest's date line falls on another day.
const digestZone = "Asia/Tokyo"

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func person(id, name, org, email, status string) convene.Registration {
	return convene.Registration{ID: id, Name: name, Organisation: org, Email: email, Language: "en", Status: status}
}

// digestData is a digest of two meetings in Zurich, cut on Wednesday
// 25 November 2026 at 08:00 in Tokyo (still Tuesday 24 November in Zurich).
func digestData(t *testing.T) templates.DigestData {
	t.Helper()
	stats := meeting()
	stats.Counts = convene.Counts{Confirmed: 12, Waitlisted: 3, Cancelled: 2}

	webinar := convene.Meeting{
		ID:       "m-webinar-data",
		Title:    "Webinar: Open Data in Practice",
		Kind:     convene.KindWebinar,
		StartsAt: utc("2026-12-03T13:30:00Z"),
		EndsAt:   ptr(utc("2026-12-03T15:00:00Z")),
		Timezone: zone,
		Status:   convene.MeetingScheduled,
		Version:  1,
		Counts:   convene.Counts{Confirmed: 5},
	}
	return templates.DigestData{
		To:          "organiser@example.org",
		OrganiserID: "o-4f2a9c",
		Tick:        utc("2026-11-24T23:00:00Z"),
		Location:    mustZone(t, digestZone),
		Meetings: []templates.DigestMeeting{
			{
				Meeting: stats,
				New: []convene.Registration{
					person("r-1", "Jane Doe", "Statistics Office", "jane.doe@example.com", convene.StatusConfirmed),
					person("r-2", "Kwame Mensah", "Ghana Statistical Service", "kwame@example.com", convene.StatusConfirmed),
					person("r-3", "Élise Martin", "", "elise@example.com", convene.StatusWaitlisted),
				},
				Cancelled:    []convene.Registration{person("r-0", "John Smith", "Ministry of Finance", "john.smith@example.com", convene.StatusCancelled)},
				Bounced:      []convene.Registration{person("r-9", "Ana Silva", "INE Portugal", "ana.silva@bounce.example.com", convene.StatusConfirmed)},
				NextReminder: ptr(utc("2026-11-30T08:00:00Z")),
				ExportURL:    "https://convene.example.org/v1/meetings/m-stats-2026/registrations?format=csv",
			},
			{
				Meeting:   webinar,
				New:       []convene.Registration{person("r-5", "Li Wei", "", "li.wei@example.com", convene.StatusConfirmed)},
				ExportURL: "https://convene.example.org/v1/meetings/m-webinar-data/registrations?format=csv",
			},
		},
		UnsubscribeURL: "https://convene.example.org/v1/digests/unsubscribe/o-4f2a9c.s1gnature",
	}
}

// cancellationOnly is a digest of one meeting where one participant
// cancelled and nothing else happened.
func cancellationOnly(t *testing.T) templates.DigestData {
	t.Helper()
	d := digestData(t)
	m := d.Meetings[0]
	m.New, m.Bounced = nil, nil
	d.Meetings = []templates.DigestMeeting{m}
	return d
}

// digestGolden formats a digest as its golden file holds it.
func digestGolden(e convene.Email) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Kind: %s\nMeeting: %s\nRegistration: %s\nMessage-ID: %s\nTo: %s <%s>\nSubject: %s\nList-Unsubscribe: %s\nAttachments: %d\n",
		e.Kind, e.MeetingID, e.RegistrationID, e.MessageID, e.To.Name, e.To.Address, e.Subject, e.ListUnsubscribe, len(e.Attachments))
	fmt.Fprintf(&b, "\n-- text --\n%s", e.Text)
	fmt.Fprintf(&b, "\n-- html --\n%s", e.HTML)
	return b.Bytes()
}

func TestDigestGolden(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		name string
		data templates.DigestData
	}{
		{"digest-two-meetings.en", digestData(t)},
		{"digest-cancellation-only.en", cancellationOnly(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := r.Digest(tt.data)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			got := digestGolden(e)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered digest (run go test ./templates -update after checking the change):\n%s",
					path, firstDiff(want, got))
			}
		})
	}
}

func TestDigestEmail(t *testing.T) {
	t.Parallel()
	r := setup(t)
	d := digestData(t)
	e, err := r.Digest(d)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if e.Kind != convene.EmailDigest || e.MeetingID != "" || e.RegistrationID != "" {
		t.Errorf("Kind, MeetingID, RegistrationID = %q, %q, %q; want %q, empty, empty", e.Kind, e.MeetingID, e.RegistrationID, convene.EmailDigest)
	}
	if want := fmt.Sprintf("digest.%d.o-4f2a9c@%s", d.Tick.Unix(), senderDomain); e.MessageID != want {
		t.Errorf("MessageID = %q, want %q", e.MessageID, want)
	}
	if want := (convene.Address{Address: "organiser@example.org"}); e.To != want {
		t.Errorf("To = %+v, want %+v", e.To, want)
	}
	if e.ListUnsubscribe != d.UnsubscribeURL {
		t.Errorf("ListUnsubscribe = %q, want %q", e.ListUnsubscribe, d.UnsubscribeURL)
	}
	if len(e.Attachments) != 0 {
		t.Errorf("%d attachments, want none", len(e.Attachments))
	}
	for part, body := range map[string]string{"text": e.Text, "html": e.HTML} {
		for _, want := range []string{
			d.UnsubscribeURL,
			d.Meetings[0].ExportURL,
			"organiser API token",
			"Wednesday, 25 November 2026, 08:00 (Asia/Tokyo time)", // the date line, in DIGEST_TIMEZONE
			"Tuesday, 1 December 2026, 09:00–17:00 (Europe/Zurich time)",
			"Monday, 30 November 2026, 09:00 (Europe/Zurich time)", // the next reminder, in the meeting's zone
			"12 confirmed of 40 seats, 3 waitlisted, 2 cancelled",
			"5 confirmed (no limit), 0 waitlisted, 0 cancelled",
			"Kwame Mensah — Ghana Statistical Service — confirmed",
			"Élise Martin — waitlisted",
			"John Smith — Ministry of Finance",
			"Ana Silva — INE Portugal",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q", part, want)
			}
		}
		// Bounced, cancelled and new participants appear by name only.
		for _, m := range d.Meetings {
			for _, list := range [][]convene.Registration{m.New, m.Cancelled, m.Bounced} {
				for _, p := range list {
					if strings.Contains(body, p.Email) {
						t.Errorf("%s part shows the address %s", part, p.Email)
					}
				}
			}
		}
	}
}

func TestDigestSubject(t *testing.T) {
	t.Parallel()
	r := setup(t)
	base := digestData(t)
	withNew := func(n int) templates.DigestMeeting {
		m := base.Meetings[0]
		m.New = nil
		for i := range n {
			m.New = append(m.New, person(fmt.Sprintf("r-%d", i), "Name", "", "x@example.com", convene.StatusConfirmed))
		}
		return m
	}
	tests := []struct {
		name     string
		meetings []templates.DigestMeeting
		want     string
	}{
		{"one registration in one meeting", []templates.DigestMeeting{withNew(1)}, "Convene digest: 1 new registration in 1 meeting"},
		{"several registrations in one meeting", []templates.DigestMeeting{withNew(3)}, "Convene digest: 3 new registrations in 1 meeting"},
		{"registrations in two meetings", []templates.DigestMeeting{withNew(2), withNew(1)}, "Convene digest: 3 new registrations in 2 meetings"},
		{"meetings without new registrations are not counted", []templates.DigestMeeting{withNew(0), withNew(2)}, "Convene digest: 2 new registrations in 1 meeting"},
		{"changes in one meeting", []templates.DigestMeeting{withNew(0)}, "Convene digest: changes in 1 meeting"},
		{"changes in two meetings", []templates.DigestMeeting{withNew(0), withNew(0)}, "Convene digest: changes in 2 meetings"},
		{"nothing", nil, "Convene digest: no changes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := base
			d.Meetings = tt.meetings
			e, err := r.Digest(d)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if e.Subject != tt.want {
				t.Errorf("Subject = %q, want %q", e.Subject, tt.want)
			}
			if !strings.Contains(e.HTML, "<title>"+tt.want+"</title>") {
				t.Errorf("HTML title is not the subject:\n%s", e.HTML)
			}
		})
	}
}

func TestDigestParticipantTextIsData(t *testing.T) {
	t.Parallel()
	r := setup(t)
	d := digestData(t)
	const (
		script = `<script>alert("x")</script>`
		action = `{{.To}}{{template "text" .}}`
		attr   = `"><img src=x onerror=alert(1)>`
	)
	m := d.Meetings[0]
	m.Meeting.Title = "Meeting " + script
	m.New = []convene.Registration{person("r-1", "Eve "+script, action, "eve@example.com", convene.StatusConfirmed)}
	m.Cancelled = []convene.Registration{person("r-2", "Mallory\r\nBcc: victim@example.com", attr, "mallory@example.com", convene.StatusCancelled)}
	m.Bounced = []convene.Registration{person("r-3", action, script, "bob@example.com", convene.StatusConfirmed)}
	d.Meetings = []templates.DigestMeeting{m}

	e, err := r.Digest(d)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	for _, want := range []string{"Meeting " + script, "Eve " + script + " — " + action, "Mallory Bcc: victim@example.com — " + attr, action + " — " + script} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text part lacks %q as written:\n%s", want, e.Text)
		}
	}
	if strings.Contains(e.Text, "Mallory\r") || strings.Contains(e.Text, "Mallory\n") {
		t.Errorf("a line break in a name reached the text part:\n%s", e.Text)
	}
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(e.HTML, bad) {
			t.Errorf("HTML part holds %q unescaped", bad)
		}
	}
	for _, want := range []string{"Eve &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;", "{{.To}}{{template &#34;text&#34; .}}"} {
		if !strings.Contains(e.HTML, want) {
			t.Errorf("HTML part lacks the escaped %q", want)
		}
	}
	if strings.Contains(e.Text+e.HTML, d.To) {
		t.Errorf("a template action in participant text ran: the organiser's address appears in the body")
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		t.Errorf("Subject %q spans lines", e.Subject)
	}
}

func TestDigestLocationDefaultsToUTC(t *testing.T) {
	t.Parallel()
	r := setup(t)
	d := digestData(t)
	d.Location = nil
	e, err := r.Digest(d)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if want := "Tuesday, 24 November 2026, 23:00 (UTC time)"; !strings.Contains(e.Text, want) {
		t.Errorf("text part lacks the date line %q:\n%s", want, e.Text)
	}
}

func TestDigestRejectsBadData(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		name   string
		change func(*templates.DigestData)
	}{
		{"no address", func(d *templates.DigestData) { d.To = "" }},
		{"invalid address", func(d *templates.DigestData) { d.To = "Organiser <org@example.org>" }},
		{"address with a line break", func(d *templates.DigestData) { d.To = "org@example.org\r\nBcc: x@example.org" }},
		{"no organiser id", func(d *templates.DigestData) { d.OrganiserID = "" }},
		{"organiser id with @", func(d *templates.DigestData) { d.OrganiserID = "org@example.org" }},
		{"organiser id with a space", func(d *templates.DigestData) { d.OrganiserID = "o 1" }},
		{"organiser id with a line break", func(d *templates.DigestData) { d.OrganiserID = "o-1\n" }},
		{"no tick", func(d *templates.DigestData) { d.Tick = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := digestData(t)
			tt.change(&d)
			_, err := r.Digest(d)
			if code := convene.ErrorCode(err); err == nil || code != convene.EINVALID {
				t.Errorf("Digest error = %v (code %q), want an %s error", err, code, convene.EINVALID)
			}
		})
	}
}

func TestNewChecksTheDigestTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(fstest.MapFS)
		wantErr string
	}{
		{
			name:    "no digest",
			change:  func(f fstest.MapFS) { delete(f, "digest.txt.tmpl"); delete(f, "digest.html.tmpl") },
			wantErr: "digest.txt.tmpl",
		},
		{
			name:    "text without HTML",
			change:  func(f fstest.MapFS) { delete(f, "digest.html.tmpl") },
			wantErr: "digest.html.tmpl",
		},
		{
			name: "unknown field in a branch",
			change: func(f fstest.MapFS) {
				f["digest.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{range .Meetings}}{{range .Bounced}}{{.Email}}{{end}}{{end}}{{end}}{{define "link"}}{{end}}{{define "footer"}}{{end}}`)}
			},
			wantErr: "digest html",
		},
		{
			name: "no footer",
			change: func(f fstest.MapFS) {
				f["digest.html.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "content"}}x{{end}}{{define "link"}}{{end}}`)}
			},
			wantErr: `digest.html.tmpl does not define "footer"`,
		},
		{
			name:    "misspelt kind",
			change:  func(f fstest.MapFS) { f["digets.txt.tmpl"] = f["digest.txt.tmpl"] },
			wantErr: `unknown email kind "digets"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := templateFiles(t)
			tt.change(files)
			_, err := templates.NewFS(templates.Options{From: sender}, files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewFS error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDigestSeats(t *testing.T) {
	t.Parallel()
	r := setup(t)
	tests := []struct {
		name     string
		capacity int
		counts   convene.Counts
		want     string
	}{
		{"seats left", 150, convene.Counts{Confirmed: 12, Waitlisted: 0, Cancelled: 1}, "12 confirmed of 150 seats, 0 waitlisted, 1 cancelled"},
		{"full", 40, convene.Counts{Confirmed: 40, Waitlisted: 7}, "40 confirmed of 40 seats (full), 7 waitlisted, 0 cancelled"},
		{"one seat", 1, convene.Counts{}, "0 confirmed of 1 seat, 0 waitlisted, 0 cancelled"},
		{"no limit", 0, convene.Counts{Confirmed: 12}, "12 confirmed (no limit), 0 waitlisted, 0 cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := cancellationOnly(t)
			d.Meetings[0].Meeting.Capacity = tt.capacity
			d.Meetings[0].Meeting.Counts = tt.counts
			e, err := r.Digest(d)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			for part, body := range map[string]string{"text": e.Text, "html": e.HTML} {
				if !strings.Contains(body, tt.want) {
					t.Errorf("%s part lacks %q", part, tt.want)
				}
			}
		})
	}
}
