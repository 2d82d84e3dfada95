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

// pageData returns a confirmed registration of Jane Doe in lang for the
// golden meeting.
func pageData(lang string) templates.PageData {
	m := meeting()
	return templates.PageData{
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
		if err := p.Error(&b, http.StatusNotFound, "This link is not valid"); err != nil {
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
		{"confirmed, French", pageData("fr"), []string{"Votre place est confirmée", "Annuler mon inscription"}},
		{"waitlisted, French", waitlisted("fr", 2), []string{"Vous êtes en position 2 sur la liste d'attente"}},
		{"just cancelled, French", justCancelled("fr"), []string{"Votre inscription est annulée"}},
		{"meeting cancelled, French", meetingCancelled("fr"), []string{"Les organisateurs ont annulé"}},
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
			if n := strings.Count(got, "<button"); n != 1 || !strings.Contains(got, `<button type="submit">`) {
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
	if err := p.Error(failingWriter{}, http.StatusNotFound, "This link is not valid"); !errors.Is(err, errWrite) {
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
	t.Run("error message", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		if err := p.Error(&b, http.StatusNotFound, "<script>alert(1)</script> {{.}}"); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); strings.Contains(got, "<script") || !strings.Contains(got, "&lt;script&gt;alert(1)&lt;/script&gt; {{.}}") {
			t.Errorf("message is not escaped text:\n%s", got)
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
			hasLink := strings.Contains(got, "<a ")
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
	tests := []struct {
		lang, wantLang, want string
	}{
		{"en", "en", "Cancel my registration"},
		{"fr", "fr", "Annuler mon inscription"},
		{"es", "en", "Cancel my registration"},
		{"", "en", "Cancel my registration"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			got := registrationPage(t, p, pageData(tt.lang))
			if !strings.Contains(got, `<html lang="`+tt.wantLang+`">`) || !strings.Contains(got, tt.want) {
				t.Errorf("language %q: want lang=%q and %q:\n%s", tt.lang, tt.wantLang, tt.want, got)
			}
		})
	}
}

func TestPagesShowLocalTimes(t *testing.T) {
	t.Parallel()
	p := setupPages(t)
	if got := registrationPage(t, p, pageData("en")); !strings.Contains(got, "Tuesday 1 December 2026, 09:00–17:00 (Europe/Zurich)") {
		t.Errorf("English page lacks the local times with the zone:\n%s", got)
	}
	if got := registrationPage(t, p, pageData("fr")); !strings.Contains(got, "mardi 1er décembre 2026, 09:00–17:00 (Europe/Zurich)") {
		t.Errorf("French page lacks the local times with the zone:\n%s", got)
	}
	d := pageData("en")
	d.Meeting.EndsAt = nil
	if got := registrationPage(t, p, d); !strings.Contains(got, "Tuesday 1 December 2026, 09:00 (Europe/Zurich)") {
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
	if err := p.Error(&b, http.StatusNotFound, "This link is not valid"); err != nil {
		t.Fatal(err)
	}
	pages["error"] = b.String()

	for name, got := range pages {
		for _, want := range []string{
			"<!DOCTYPE html>",
			`<meta charset="utf-8">`,
			`<meta name="viewport" content="width=device-width, initial-scale=1">`,
			`<meta name="robots" content="noindex">`,
			`<meta name="referrer" content="no-referrer">`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
		lower := strings.ToLower(got)
		for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", " src=", "@import", "url("} {
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
	tests := []struct {
		status  int
		message string
		want    []string
	}{
		{http.StatusNotFound, "This link is not valid", []string{"<title>This link is not valid</title>", "<h1>This link is not valid</h1>", "Error 404: Not Found"}},
		{http.StatusInternalServerError, "", []string{"<h1>Internal Server Error</h1>", "Error 500"}},
		{http.StatusConflict, "  Registration\r\nis closed ", []string{"<h1>Registration is closed</h1>"}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := p.Error(&b, tt.status, tt.message); err != nil {
			t.Fatalf("Error(%d): %v", tt.status, err)
		}
		got := b.String()
		if !strings.Contains(got, `<html lang="en">`) {
			t.Errorf("Error(%d) is not an English page:\n%s", tt.status, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Error(%d, %q) lacks %q:\n%s", tt.status, tt.message, w, got)
			}
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
