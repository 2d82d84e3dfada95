package templates_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"convene"
	"convene/templates"
)

// setupPages returns Pages over the embedded page files.
func setupPages(t *testing.T) *templates.Pages {
	t.Helper()
	p, err := templates.NewPages()
	if err != nil {
		t.Fatalf("NewPages: %v", err)
	}
	return p
}

const cancelAction = "/r/tok3n.s1gnature/cancel"

// badLink is the error page of a personal link that is not valid.
func badLink(lang string) templates.ErrorPage {
	return templates.ErrorPage{Page: templates.Page{Lang: lang, Path: "/r/bad"}, Status: http.StatusNotFound, Reason: templates.ReasonBadLink}
}

// say returns the catalogue's text of key in lang, escaped as the pages
// show it.
func say(t *testing.T, lang, key string, kv ...any) string {
	t.Helper()
	cat, err := templates.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	s, err := cat.Language(lang).T(key, kv...)
	if err != nil {
		t.Fatal(err)
	}
	return htmlEscape(s)
}

var htmlEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace

// pageData returns a confirmed registration of Jane Doe in lang for the
// golden meeting.
func pageData(lang string) templates.PageData {
	m := meeting()
	return templates.PageData{
		Page:    templates.Page{Lang: lang, Path: "/r/tok3n.s1gnature"},
		Meeting: m,
		Registration: convene.Registration{
			ID:           "r-janedoe00000000",
			MeetingID:    m.ID,
			Name:         "Jane Doe",
			Email:        "jane.doe@example.com",
			Organisation: "Statistics Office",
			Language:     lang,
			Status:       convene.StatusConfirmed,
		},
		CancelAction: cancelAction,
	}
}

func waitlisted(lang string, position int) templates.PageData {
	d := pageData(lang)
	d.Registration.Status = convene.StatusWaitlisted
	d.Registration.Position = position
	return d
}

func justCancelled(lang string) templates.PageData {
	d := pageData(lang)
	d.Registration.Status = convene.StatusCancelled
	d.JustCancelled = true
	return d
}

func cancelledBefore(lang string) templates.PageData {
	d := pageData(lang)
	d.Registration.Status = convene.StatusCancelled
	return d
}

func meetingCancelled(lang string) templates.PageData {
	d := pageData(lang)
	d.Meeting.Status = convene.MeetingCancelled
	return d
}

// registrationPage renders d, failing the test on error.
func registrationPage(t *testing.T, p *templates.Pages, d templates.PageData) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Registration(&b, d); err != nil {
		t.Fatalf("Registration: %v", err)
	}
	return b.String()
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
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
		t.Errorf("%s differs from the rendered page (run go test ./templates -update after checking the change):\n%s",
			path, firstDiff(want, got))
	}
}

func TestPagesGolden(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	tests := []struct {
		name string
		data templates.PageData
	}{
		{"page-confirmed.en", pageData("en")},
		{"page-waitlisted.fr", waitlisted("fr", 3)},
		{"page-just-cancelled.en", justCancelled("en")},
		{"page-meeting-cancelled.en", meetingCancelled("en")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.name, []byte(registrationPage(t, p, tt.data)))
		})
	}
	t.Run("page-error-404", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		if err := p.Error(&b, badLink("en")); err != nil {
			t.Fatalf("Error: %v", err)
		}
		checkGolden(t, "page-error-404", b.Bytes())
	})
}

func TestPagesStatus(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	tests := []struct {
		name string
		data templates.PageData
		want []string
	}{
		{"confirmed", pageData("en"), []string{"Your seat is confirmed", "If you cancel, your seat goes to the next person on the waiting list."}},
		{"waitlisted", waitlisted("en", 3), []string{"You are number 3 on the waiting list", "you leave the waiting list"}},
		{"waitlisted without a position", waitlisted("en", 0), []string{"You are on the waiting list"}},
		{"cancelled before", cancelledBefore("en"), []string{"Your registration is cancelled", "register again"}},
		{"just cancelled", justCancelled("en"), []string{"Your registration is cancelled", "as you asked"}},
		{"just cancelled with a stale status", func() templates.PageData {
			d := pageData("en")
			d.JustCancelled = true
			return d
		}(), []string{"Your registration is cancelled"}},
		{"meeting cancelled", meetingCancelled("en"), []string{"Cancelled by the organisers", "The organisers have cancelled"}},
		{"confirmed, French", pageData("fr"), []string{say(t, "fr", "registration.confirmed"), say(t, "fr", "registration.cancel")}},
		{"waitlisted, Arabic", waitlisted("ar", 2), []string{say(t, "ar", "registration.waitlisted_position", "Position", 2)}},
		{"just cancelled, Chinese", justCancelled("zh"), []string{say(t, "zh", "registration.cancelled"), say(t, "zh", "registration.just_cancelled_body")}},
		{"meeting cancelled, Russian", meetingCancelled("ru"), []string{say(t, "ru", "registration.by_organisers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := registrationPage(t, p, tt.data)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, "Your seat is confirmed") && tt.data.Registration.Status != convene.StatusConfirmed {
				t.Errorf("page says the seat is confirmed for status %q", tt.data.Registration.Status)
			}
			if tt.data.JustCancelled && strings.Contains(got, "Your seat is confirmed") {
				t.Error("page answering the cancel POST says the seat is confirmed")
			}
		})
	}
}

// formTag matches a whole opening form tag.
var formTag = regexp.MustCompile(`(?i)<form\b[^>]*>`)

func TestPagesCancelFormOnlyWhileCancellable(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	tests := []struct {
		name     string
		data     templates.PageData
		wantForm bool
	}{
		{"confirmed", pageData("en"), true},
		{"waitlisted", waitlisted("en", 3), true},
		{"confirmed, French", pageData("fr"), true},
		{"cancelled before", cancelledBefore("en"), false},
		{"just cancelled", justCancelled("en"), false},
		{"just cancelled, French", justCancelled("fr"), false},
		{"meeting cancelled", meetingCancelled("en"), false},
		{"meeting cancelled, waitlisted", func() templates.PageData {
			d := waitlisted("en", 1)
			d.Meeting.Status = convene.MeetingCancelled
			return d
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := registrationPage(t, p, tt.data)
			forms := formTag.FindAllString(got, -1)
			if n := strings.Count(strings.ToLower(got), "<form"); n != len(forms) {
				t.Fatalf("%d <form, %d well-formed form tags", n, len(forms))
			}
			if !tt.wantForm {
				if len(forms) != 0 || strings.Contains(got, "<button") {
					t.Errorf("page has a form or button, want none:\n%s", got)
				}
				return
			}
			if len(forms) != 1 {
				t.Fatalf("page has %d forms, want 1:\n%s", len(forms), got)
			}
			if want := `<form method="post" action="` + cancelAction + `">`; forms[0] != want {
				t.Errorf("form tag = %s, want %s", forms[0], want)
			}
			if n := strings.Count(got, "<button"); n != 1 || !strings.Contains(got, `<button type="submit" class="danger">`) {
				t.Errorf("page has %d buttons, want one submit button", n)
			}
			if strings.Contains(got, "<input") {
				t.Error("form has inputs, want only the submit button")
			}
		})
	}
}

func TestPagesRegistrationNeedsAnActionForItsForm(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	d := pageData("en")
	d.CancelAction = ""
	var b bytes.Buffer
	if err := p.Registration(&b, d); err == nil {
		t.Fatal("no error for a cancel form without an action")
	}
	if b.Len() != 0 {
		t.Errorf("wrote %d bytes on error, want none", b.Len())
	}
	// A page without a form needs no action.
	d = justCancelled("en")
	d.CancelAction = ""
	if err := p.Registration(&b, d); err != nil {
		t.Errorf("cancelled page without an action: %v", err)
	}
}

func TestPagesRegistrationRejectsUnknownStatus(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	for _, status := range []string{"", "pending", "CONFIRMED"} {
		d := pageData("en")
		d.Registration.Status = status
		var b bytes.Buffer
		if err := p.Registration(&b, d); err == nil {
			t.Errorf("status %q: no error", status)
		}
		if b.Len() != 0 {
			t.Errorf("status %q: wrote %d bytes on error, want none", status, b.Len())
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

var errWrite = errors.New("connection reset")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestPagesReportWriteErrors(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	if err := p.Registration(failingWriter{}, pageData("en")); !errors.Is(err, errWrite) {
		t.Errorf("Registration error = %v, want %v", err, errWrite)
	}
	if err := p.Error(failingWriter{}, badLink("en")); !errors.Is(err, errWrite) {
		t.Errorf("Error error = %v, want %v", err, errWrite)
	}
}

func TestPagesParticipantTextIsData(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	for _, lang := range []string{"en", "fr"} {
		for name, d := range map[string]templates.PageData{
			"confirmed":         pageData(lang),
			"waitlisted":        waitlisted(lang, 3),
			"just cancelled":    justCancelled(lang),
			"meeting cancelled": meetingCancelled(lang),
		} {
			t.Run(lang+"/"+name, func(t *testing.T) {
				t.Parallel()
				d.Registration.Name = "<script>alert(1)</script>"
				d.Registration.Organisation = `"><img src=x onerror=alert(2)>`
				d.Meeting.Title = "Budget {{.Registration.Email}} </title><script>alert(3)</script>"
				d.Meeting.Location = "Room <b>XVII</b> {{.Registration.Email}}"
				got := registrationPage(t, p, d)
				for _, bad := range []string{"<script", "<img", "<b>", d.Registration.Email} {
					if strings.Contains(got, bad) {
						t.Errorf("page contains %q:\n%s", bad, got)
					}
				}
				for _, want := range []string{
					"&lt;script&gt;alert(1)&lt;/script&gt;",
					"&lt;img src=x onerror=alert(2)&gt;",
					"Budget {{.Registration.Email}} &lt;/title&gt;",
					"Room &lt;b&gt;XVII&lt;/b&gt; {{.Registration.Email}}",
				} {
					if !strings.Contains(got, want) {
						t.Errorf("page lacks %q:\n%s", want, got)
					}
				}
			})
		}
	}
	t.Run("meeting page", func(t *testing.T) {
		t.Parallel()
		d := meetingPage("en")
		d.Meeting.Title = "Budget </title><script>alert(3)</script>"
		d.Meeting.Location = "Room <b>XVII</b>"
		d.Form = convene.RegistrationInput{Name: `"><script>alert(1)</script>`, Email: "{{.}}", Organisation: "<img src=x>"}
		var b bytes.Buffer
		if err := p.Meeting(&b, d); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		for _, bad := range []string{"<script", "<img", "<b>"} {
			if strings.Contains(got, bad) {
				t.Errorf("page contains %q:\n%s", bad, got)
			}
		}
		for _, want := range []string{`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`, `value="{{.}}"`, `value="&lt;img src=x&gt;"`, "Budget &lt;/title&gt;"} {
			if !strings.Contains(got, want) {
				t.Errorf("page lacks %q:\n%s", want, got)
			}
		}
	})
}

func TestPagesOnlyWebURLsBecomeLinks(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	tests := []struct {
		url      string
		wantLink bool
	}{
		{"https://meet.example.org/j/1?pwd=a&b=c", true},
		{"http://meet.example.org/j/1", true},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"ftp://files.example.org/agenda.pdf", false},
		{"//meet.example.org/j/1", false},
		{"meet.example.org/j/1", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			d := pageData("en")
			d.Meeting.OnlineURL = tt.url
			got := registrationPage(t, p, d)
			hasLink := strings.Contains(got, `rel="noopener noreferrer"`) // the online link; the language switch has links of its own
			if hasLink != tt.wantLink {
				t.Errorf("link = %v, want %v:\n%s", hasLink, tt.wantLink, got)
			}
			if strings.Contains(strings.ToLower(got), `href="javascript`) || strings.Contains(got, `href="data`) || strings.Contains(got, "<script") {
				t.Errorf("page carries a dangerous link:\n%s", got)
			}
			if !tt.wantLink && !strings.Contains(got, "<dd>") {
				t.Error("online address not shown")
			}
		})
	}
}

func TestPagesLanguage(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	for _, tt := range []struct{ lang, wantLang, dir string }{
		{"en", "en", "ltr"}, {"fr", "fr", "ltr"}, {"es", "es", "ltr"}, {"ru", "ru", "ltr"},
		{"ar", "ar", "rtl"}, {"zh", "zh", "ltr"}, {"", "en", "ltr"}, {"xx", "en", "ltr"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			got := registrationPage(t, p, pageData(tt.lang))
			if !strings.Contains(got, `<html lang="`+tt.wantLang+`" dir="`+tt.dir+`">`) || !strings.Contains(got, say(t, tt.wantLang, "registration.cancel")) {
				t.Errorf("language %q: want lang=%q dir=%q and its cancel button:\n%s", tt.lang, tt.wantLang, tt.dir, got)
			}
			// The switch links to the five others, each named in itself.
			for _, other := range convene.Languages {
				link := `<a href="/r/tok3n.s1gnature?lang=` + other + `" lang="` + other + `" hreflang="` + other + `">`
				if other == tt.wantLang {
					if strings.Contains(got, link) || !strings.Contains(got, `<span aria-current="true" lang="`+other+`">`) {
						t.Errorf("language %q: the switch links to the page's own language", tt.lang)
					}
				} else if !strings.Contains(got, link) {
					t.Errorf("language %q: no switch to %s", tt.lang, other)
				}
			}
		})
	}
}

func TestPagesShowLocalTimes(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	if got := registrationPage(t, p, pageData("en")); !strings.Contains(got, "Tuesday, 1 December 2026, 09:00–17:00 (Europe/Zurich time)") {
		t.Errorf("English page lacks the local times with the zone:\n%s", got)
	}
	if got := registrationPage(t, p, pageData("zh")); !strings.Contains(got, "2026年12月1日星期二") || !strings.Contains(got, "上午9:00") {
		t.Errorf("Chinese page lacks the CLDR date and time:\n%s", got)
	}
	d := pageData("en")
	d.Meeting.EndsAt = nil
	if got := registrationPage(t, p, d); !strings.Contains(got, "Tuesday, 1 December 2026, 09:00 (Europe/Zurich time)") {
		t.Errorf("page for a meeting without an end lacks its start:\n%s", got)
	}
}

// eventHandler matches an inline event handler attribute such as onclick=.
var eventHandler = regexp.MustCompile(`\son[a-z]+\s*=`)

func TestPagesAreSelfContained(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	pages := map[string]string{}
	for name, d := range map[string]templates.PageData{
		"confirmed.en":         pageData("en"),
		"waitlisted.fr":        waitlisted("fr", 3),
		"just-cancelled.en":    justCancelled("en"),
		"meeting-cancelled.fr": meetingCancelled("fr"),
	} {
		pages[name] = registrationPage(t, p, d)
	}
	var b bytes.Buffer
	if err := p.Error(&b, badLink("ar")); err != nil {
		t.Fatal(err)
	}
	pages["error"] = b.String()
	b.Reset()
	if err := p.Meeting(&b, meetingPage("zh")); err != nil {
		t.Fatal(err)
	}
	pages["meeting"] = b.String()
	b.Reset()
	if err := p.Registered(&b, templates.RegisteredPage{Page: templates.Page{Lang: "ru", Path: "/m/x/registered"}, Meeting: meeting(), Back: "/m/x"}); err != nil {
		t.Fatal(err)
	}
	pages["registered"] = b.String()

	for name, got := range pages {
		want := []string{
			"<!DOCTYPE html>",
			`<meta charset="utf-8">`,
			`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		}
		if name != "meeting" && name != "registered" {
			// Personal and error pages: not indexed, their URL not sent on.
			want = append(want, `<meta name="robots" content="noindex">`, `<meta name="referrer" content="no-referrer">`)
		}
		for _, want := range want {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
		lower := strings.ToLower(got)
		if want := `<link rel="stylesheet" href="` + templates.StylesheetPath + `">`; strings.Count(lower, "<link") != 1 || !strings.Contains(got, want) {
			t.Errorf("%s links to something other than its one stylesheet, %s", name, want)
		}
		lower = strings.Replace(lower, "<link", "", 1)
		for _, bad := range []string{"<script", "<link", "<img", "<style", " style=", "<iframe", "<object", "<embed", " src=", "@import", "url("} {
			if strings.Contains(lower, bad) {
				t.Errorf("%s contains %q: pages load nothing and run no script", name, bad)
			}
		}
		if h := eventHandler.FindString(lower); h != "" {
			t.Errorf("%s has an event handler attribute %q", name, h)
		}
	}
}

func TestPagesError(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	reasons := []string{templates.ReasonNotFound, templates.ReasonNoMeeting, templates.ReasonBadLink, templates.ReasonClosed,
		templates.ReasonForbidden, templates.ReasonTooLarge, templates.ReasonUnsupported, templates.ReasonTimeout,
		templates.ReasonTooMany, templates.ReasonUnavailable, templates.ReasonInternal}
	for _, lang := range convene.Languages {
		for _, reason := range reasons {
			var b bytes.Buffer
			d := templates.ErrorPage{Page: templates.Page{Lang: lang, Path: "/m/x"}, Status: 429, Reason: reason, Back: "/m/x"}
			if err := p.Error(&b, d); err != nil {
				t.Fatalf("%s %s: %v", lang, reason, err)
			}
			got := b.String()
			heading := say(t, lang, "error."+reason)
			for _, want := range []string{`<html lang="` + lang + `"`, "<title>" + heading + "</title>", "<h1>" + heading + "</h1>", say(t, lang, "error.status", "Status", 429), `<a href="/m/x">`} {
				if !strings.Contains(got, want) {
					t.Errorf("%s %s: page lacks %q:\n%s", lang, reason, want, got)
				}
			}
		}
	}
	// When to try again: in seconds, then minutes, in the language's plural forms.
	for _, tt := range []struct {
		after time.Duration
		key   string
		n     int
	}{{5 * time.Second, "error.retry_seconds", 5}, {59*time.Second + time.Millisecond, "error.retry_seconds", 60}, {2 * time.Minute, "error.retry_minutes", 2}, {10*time.Minute + time.Second, "error.retry_minutes", 11}} {
		var b bytes.Buffer
		d := templates.ErrorPage{Page: templates.Page{Lang: "ru"}, Status: 429, Reason: templates.ReasonTooMany, RetryAfter: tt.after}
		if err := p.Error(&b, d); err != nil {
			t.Fatal(err)
		}
		cat, _ := templates.NewCatalogue()
		want, _ := cat.Language("ru").N(tt.key, tt.n)
		if !strings.Contains(b.String(), want) {
			t.Errorf("retry after %v: page lacks %q:\n%s", tt.after, want, b.String())
		}
	}
	// An unknown reason reads as a failure of Convene's, never as nothing.
	var b bytes.Buffer
	if err := p.Error(&b, templates.ErrorPage{Page: templates.Page{Lang: "en"}, Status: 500, Reason: "bogus"}); err != nil || !strings.Contains(b.String(), say(t, "en", "error.internal")) {
		t.Errorf("unknown reason: %v\n%s", err, b.String())
	}
}

// meetingPage returns the meeting's page in lang, open, for a visitor.
func meetingPage(lang string) templates.MeetingPage {
	m := meeting()
	return templates.MeetingPage{Page: templates.Page{Lang: lang, Path: "/m/" + m.ID}, Meeting: m, Now: m.StartsAt.Add(-72 * time.Hour), Action: "/m/" + m.ID}
}

func TestPagesMeetingGolden(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	invalid := meetingPage("ar")
	invalid.Form = convene.RegistrationInput{Name: "", Email: "ada@", Organisation: "Statistics Office", Language: "fr"}
	invalid.Problems = invalid.Form.Problems()
	cancelled := meetingPage("fr")
	cancelled.Meeting.Status = convene.MeetingCancelled
	for name, d := range map[string]templates.MeetingPage{
		"page-meeting.en":           meetingPage("en"),
		"page-meeting.zh":           meetingPage("zh"),
		"page-meeting-invalid.ar":   invalid,
		"page-meeting-cancelled.fr": cancelled,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := p.Meeting(&b, d); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name, b.Bytes())
		})
	}
}

func TestPagesMeetingNeedsAnAction(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	d := meetingPage("en")
	d.Action = ""
	var b bytes.Buffer
	if err := p.Meeting(&b, d); err == nil || b.Len() != 0 {
		t.Errorf("a form without an action: error %v, %d bytes written", err, b.Len())
	}
}

func TestPagesStylesheet(t *testing.T) {
	t.Parallel()
	css := string(templates.Stylesheet())
	if !strings.HasPrefix(templates.StylesheetPath, "/assets/convene.") || !strings.HasSuffix(templates.StylesheetPath, ".css") {
		t.Errorf("StylesheetPath = %q", templates.StylesheetPath)
	}
	for _, want := range []string{".error-summary", ".field-error", "padding-inline-start", ".hp{"} {
		if !strings.Contains(css, want) {
			t.Errorf("the stylesheet lacks %q", want)
		}
	}
	for _, bad := range []string{"@import", "url(", "expression("} {
		if strings.Contains(css, bad) {
			t.Errorf("the stylesheet loads something: %q", bad)
		}
	}
}

func TestPagesConcurrentUse(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	want := registrationPage(t, p, pageData("fr"))
	for i := range 8 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			d := pageData("fr")
			if i%2 == 1 {
				d = pageData("en")
				if got := registrationPage(t, p, d); !strings.Contains(got, "Your seat is confirmed") {
					t.Errorf("English page wrong:\n%s", got)
				}
				return
			}
			if got := registrationPage(t, p, d); got != want {
				t.Errorf("concurrent render differs:\n%s", firstDiff([]byte(want), []byte(got)))
			}
		})
	}
}
