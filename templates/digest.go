package templates

import (
	"bytes"
	"fmt"
	htemplate "html/template"
	"io/fs"
	"strconv"
	"strings"
	ttemplate "text/template"
	"time"

	"convene"
)

// DigestData is one organiser's digest: what changed in their upcoming
// meetings since their previous digest. The caller loads it.
type DigestData struct {
	// To is the organiser's address.
	To string
	// OrganiserID is the stable id of the organiser. It names the
	// Message-ID, so it must be a single token without spaces, "@", "<"
	// or ">".
	OrganiserID string
	// Tick is the digest period's time (its cut time). The Message-ID is
	// "digest.{Tick in Unix seconds}.{OrganiserID}@{sender domain}", the same
	// for every attempt at one period's digest.
	Tick time.Time
	// Location is DIGEST_TIMEZONE: the digest's own times (its date line)
	// are shown in it. Nil means UTC.
	Location *time.Location
	// Meetings are the meetings with something to show, in the order the
	// digest lists them. An empty list still renders (a digest saying
	// nothing changed), should the caller want one.
	Meetings []DigestMeeting
	// UnsubscribeURL becomes Email.ListUnsubscribe and a visible link in
	// the footer.
	UnsubscribeURL string
}

// DigestMeeting is what a digest says about one meeting.
type DigestMeeting struct {
	// Meeting gives the title, the times (shown in the meeting's own time
	// zone), the Counts and the Capacity (0 = unlimited).
	Meeting convene.Meeting
	// New are the registrations made since the previous digest; the digest
	// shows their name, organisation and status.
	New []convene.Registration
	// Cancelled are the registrations cancelled since the previous digest;
	// the digest shows their name and organisation.
	Cancelled []convene.Registration
	// Bounced are the participants whose email bounced since the previous
	// digest; the digest shows their name and organisation, never their
	// address.
	Bounced []convene.Registration
	// NextReminder is when the meeting's next reminder is due, nil if none.
	NextReminder *time.Time
	// ExportURL links to the CSV export of the meeting's registrations,
	// which needs the organiser API token.
	ExportURL string
}

// Digest renders an organiser's digest (kind "digest"): a text/plain and a
// text/html part, a List-Unsubscribe URL, no attachments. It is in English,
// the only language the digest templates exist in for now; an invalid
// address, organiser id or tick is an EINVALID error.
func (r *Renderer) Digest(d DigestData) (convene.Email, error) {
	to, err := convene.ParseEmail(d.To)
	if err != nil {
		return convene.Email{}, convene.Errorf(convene.EINVALID, "templates: digest to %q: not a valid email address", d.To)
	}
	if d.OrganiserID == "" || strings.ContainsAny(d.OrganiserID, " @<>\"\\()[],;:") || oneLine(d.OrganiserID) != d.OrganiserID {
		return convene.Email{}, convene.Errorf(convene.EINVALID, "templates: digest organiser id %q cannot be part of a Message-ID", d.OrganiserID)
	}
	if d.Tick.IsZero() {
		return convene.Email{}, convene.Errorf(convene.EINVALID, "templates: digest for %s has no tick", d.OrganiserID)
	}
	v, err := newDigestView(d, r.digest.lang)
	if err != nil {
		return convene.Email{}, err
	}
	out, err := executeDigest(r.digest, v)
	if err != nil {
		return convene.Email{}, err
	}
	return convene.Email{
		Kind:            convene.EmailDigest,
		MessageID:       fmt.Sprintf("%s.%d.%s@%s", convene.EmailDigest, d.Tick.Unix(), d.OrganiserID, r.domain),
		To:              convene.Address{Address: to},
		Subject:         out.subject,
		Text:            out.text,
		HTML:            out.html,
		ListUnsubscribe: v.UnsubscribeURL,
	}, nil
}

// digestView is what the digest templates see: text cleaned of control
// characters, times formatted in their zones and the digest's language, and
// the totals the subject needs.
type digestView struct {
	Kind string
	Lang string
	// Dir, Start and End are the layout's direction (see view).
	Dir, Start, End string
	// Title is the HTML document's title (the layout's <title>): the
	// subject, once it is rendered.
	Title string
	// Date is the digest's tick in DIGEST_TIMEZONE, with the zone's name.
	Date string
	// NewCount is the number of new registrations in all meetings, and
	// NewMeetings the number of meetings that have any.
	NewCount    int
	NewMeetings int
	Meetings    []digestMeetingView
	// UnsubscribeURL is empty when the caller gave none.
	UnsubscribeURL string
}

// digestMeetingView is one meeting of a digest.
type digestMeetingView struct {
	Title string
	When  string // start (and end) in the meeting's zone, with the zone's name
	// MeetingCancelled is true when the organisers cancelled the meeting.
	MeetingCancelled bool
	Confirmed        int
	Waitlisted       int
	Cancelled        int
	Capacity         int  // 0: no limit
	Full             bool // a limit, and every seat taken
	New              []digestPerson
	Cancellations    []digestPerson
	Bounced          []digestPerson
	// NextReminder is when the next reminder is due, in the meeting's
	// zone; empty when none is.
	NextReminder string
	ExportURL    string
}

// digestPerson is a participant as a digest names them: never with their
// address.
type digestPerson struct {
	Name         string
	Organisation string
	Status       string // for new registrations: confirmed, waitlisted or cancelled
}

func newDigestView(d DigestData, l *Language) (digestView, error) {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	date, err := l.Instant(d.Tick, loc)
	if err != nil {
		return digestView{}, err
	}
	v := digestView{
		Kind:           convene.EmailDigest,
		Lang:           l.Code,
		Date:           date,
		UnsubscribeURL: oneLine(d.UnsubscribeURL),
	}
	v.Dir, v.Start, v.End, _ = direction(l)
	for _, dm := range d.Meetings {
		m := dm.Meeting
		when, err := l.When(m)
		if err != nil {
			return digestView{}, err
		}
		mv := digestMeetingView{
			Title:            oneLine(m.Title),
			When:             when,
			MeetingCancelled: m.Status == convene.MeetingCancelled,
			Confirmed:        m.Counts.Confirmed,
			Waitlisted:       m.Counts.Waitlisted,
			Cancelled:        m.Counts.Cancelled,
			Capacity:         m.Capacity,
			Full:             m.Capacity > 0 && m.Counts.Confirmed >= m.Capacity,
			New:              people(dm.New),
			Cancellations:    people(dm.Cancelled),
			Bounced:          people(dm.Bounced),
			ExportURL:        oneLine(dm.ExportURL),
		}
		if dm.NextReminder != nil {
			if mv.NextReminder, err = l.Instant(*dm.NextReminder, m.Zone()); err != nil {
				return digestView{}, err
			}
		}
		if len(mv.New) > 0 {
			v.NewCount += len(mv.New)
			v.NewMeetings++
		}
		v.Meetings = append(v.Meetings, mv)
	}
	return v, nil
}

func people(rs []convene.Registration) []digestPerson {
	out := make([]digestPerson, 0, len(rs))
	for _, r := range rs {
		out = append(out, digestPerson{Name: oneLine(r.Name), Organisation: oneLine(r.Organisation), Status: oneLine(r.Status)})
	}
	return out
}

// executeDigest renders a digest view with one language's templates. The
// subject is rendered first: it is also the HTML part's title.
func executeDigest(s *set, v digestView) (rendered, error) {
	var subject, text, html bytes.Buffer
	if err := s.text.ExecuteTemplate(&subject, tmplSubject, v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s subject: %w", convene.EmailDigest, err)
	}
	v.Title = oneLine(subject.String())
	if err := s.text.ExecuteTemplate(&text, tmplText, v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s text: %w", convene.EmailDigest, err)
	}
	if err := s.html.ExecuteTemplate(&html, tmplLayout, v); err != nil {
		return rendered{}, fmt.Errorf("templates: %s html: %w", convene.EmailDigest, err)
	}
	return rendered{subject: v.Title, text: text.String(), html: html.String()}, nil
}

// parseDigest parses the digest templates, digest.txt.tmpl and
// digest.html.tmpl, and runs them on sample data. The digest is in English
// and self-contained: its text part needs no common.txt.tmpl, and its HTML
// part is parsed on the shared layout.html.tmpl alone, so it defines the
// layout's "content", "link" and "footer" itself.
func (r *Renderer) parseDigest(fsys fs.FS) error {
	txt, html := convene.EmailDigest+".txt.tmpl", convene.EmailDigest+".html.tmpl"
	english := r.cat.Language(fallbackLanguage)
	t, err := parseText(fsys, ttemplate.New(txt), english, txt)
	if err != nil {
		return err
	}
	h, err := parseHTML(fsys, htemplate.New(layoutFile).Funcs(htmlFuncs(english)), english, layoutFile, html)
	if err != nil {
		return err
	}
	if err := defines(t, txt, tmplSubject, tmplText); err != nil {
		return err
	}
	if err := defines(h, html, tmplLayout, tmplContent, "link", "footer"); err != nil {
		return err
	}
	s := &set{lang: english, text: t, html: h}
	for _, d := range sampleDigests() {
		v, err := newDigestView(d, s.lang)
		if err != nil {
			return err
		}
		if _, err := executeDigest(s, v); err != nil {
			return err
		}
	}
	r.digest = s
	return nil
}

// sampleDigests returns digests that exercise every branch of the digest
// templates, for New to try them.
func sampleDigests() []DigestData {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	end := start.Add(8 * time.Hour)
	next := start.Add(-24 * time.Hour)
	person := func(n int, status string) convene.Registration {
		return convene.Registration{Name: "Sample Name " + strconv.Itoa(n), Organisation: "Sample Organisation", Status: status}
	}
	full := DigestData{
		To:          "organiser@example.org",
		OrganiserID: "o-sample",
		Tick:        start.Add(-48 * time.Hour),
		Location:    time.UTC,
		Meetings: []DigestMeeting{
			{
				Meeting: convene.Meeting{
					ID: "m-sample", Title: "Sample meeting", StartsAt: start, EndsAt: &end, Timezone: "UTC",
					Capacity: 2, Status: convene.MeetingScheduled,
					Counts: convene.Counts{Confirmed: 2, Waitlisted: 1, Cancelled: 1},
				},
				New:          []convene.Registration{person(1, convene.StatusConfirmed), person(2, convene.StatusWaitlisted), person(3, convene.StatusCancelled), {Name: "Sample Name 4", Status: "other"}},
				Cancelled:    []convene.Registration{person(5, convene.StatusCancelled), {Name: "Sample Name 6"}},
				Bounced:      []convene.Registration{person(7, convene.StatusConfirmed), {Name: "Sample Name 8"}},
				NextReminder: &next,
				ExportURL:    "https://convene.example.org/v1/meetings/m-sample/registrations?format=csv",
			},
			{
				Meeting: convene.Meeting{ID: "m-bare", StartsAt: start, Timezone: "UTC", Capacity: 1, Status: convene.MeetingCancelled},
			},
			{
				Meeting: convene.Meeting{ID: "m-open", StartsAt: start, Timezone: "UTC", Counts: convene.Counts{Confirmed: 1}},
				New:     []convene.Registration{person(9, convene.StatusConfirmed)},
			},
		},
		UnsubscribeURL: "https://convene.example.org/v1/digests/unsubscribe/sample",
	}
	one := full
	one.Meetings = full.Meetings[2:]
	changes := full
	changes.Meetings = full.Meetings[1:2]
	empty := DigestData{To: "organiser@example.org", OrganiserID: "o-sample", Tick: full.Tick}
	return []DigestData{full, one, changes, empty}
}
