package handlers_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/handlers"
	"convene/jobs"
	"convene/ratelimit"
	"convene/templates"
)

// The participant's web side: the meeting's public page, GET /m/{id}, and
// its registration form, POST /m/{id}.

// words returns the catalogue's text of key in lang, for checking pages in
// any language without copying their wording here.
func words(t *testing.T, lang, key string, kv ...any) string {
	t.Helper()
	cat, err := templates.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	s, err := cat.Language(lang).T(key, kv...)
	if err != nil {
		t.Fatal(err)
	}
	return html.EscapeString(s)
}

// form posts a registration form to path with extra headers (name, value
// pairs), as a browser on the same site does.
func (b *bundle) form(path string, values url.Values, kv ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	h := hdr(append([]string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}, kv...)...)
	return b.serveRaw("POST", path, h, values.Encode())
}

func registrant(name, email string) url.Values {
	return url.Values{"name": {name}, "email": {email}, "organisation": {"Statistics Office"}, "language": {"fr"}}
}

// wantPage checks a page's status, that it is HTML, and the headers every
// participant page carries.
func wantPage(t *testing.T, what string, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q, want text/html; charset=utf-8", what, ct)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("%s: Content-Security-Policy %q, want no script at all and forms to this site only", what, csp)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if rec.Header().Get("Referrer-Policy") == "" {
		t.Errorf("%s: no Referrer-Policy", what)
	}
	body := rec.Body.String()
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Errorf("%s: the page has a script", what)
	}
	return body
}

// clock is a test's clock, moved by hand.
type clock struct{ at atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Now())
	return c
}

func (c *clock) now() time.Time      { return *c.at.Load() }
func (c *clock) set(t time.Time)     { c.at.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

func TestMeetingPageShowsTheMeetingAndItsForm(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := setupWith(t, func(cfg *handlers.Config, _ *redis.Client) { cfg.Now = clk.now })
	b.createMeeting(`{"id":"egm","title":"Expert group on water <statistics>","kind":"expert_group_meeting","starts_at":"2030-03-01T08:00:00Z","ends_at":"2030-03-01T16:00:00Z",
		"timezone":"Europe/Zurich","location":"Palais des Nations","online_url":"https://meet.example.org/secret-room","capacity":2}`)

	rec := b.serveRaw("GET", "/m/egm", nil, "")
	page := wantPage(t, "GET /m/egm", rec, http.StatusOK)
	if cc := rec.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
		t.Errorf("Cache-Control %q, want a brief public cache", cc)
	}
	if v := rec.Header().Get("Vary"); !strings.Contains(v, "Accept-Language") {
		t.Errorf("Vary %q, want Accept-Language", v)
	}
	for _, want := range []string{
		`<html lang="en" dir="ltr">`,
		"Expert group on water &lt;statistics&gt;",
		words(t, "en", "kind.expert_group_meeting"),
		"Friday, 1 March 2030, 09:00–17:00 (Europe/Zurich",
		"Palais des Nations",
		`<form method="post" action="/m/egm" novalidate>`,
		`id="name" name="name"`, `id="email" name="email"`, `id="organisation" name="organisation"`, `<select id="language" name="language">`,
		`<option value="en" lang="en" selected>English</option>`,
		`<option value="ar" lang="ar">العربية</option>`,
		`id="website" name="website"`, // the honeypot
		words(t, "en", "meeting.online_after"),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "secret-room") {
		t.Error("the public page shows the online link, which only registered participants get")
	}
	cat, err := templates.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	two, _ := cat.Language("en").N("meeting.seats_left", 2)
	if !strings.Contains(page, two) {
		t.Errorf("page lacks %q", two)
	}
	// Every other language is one link away.
	for _, lang := range convene.Languages[1:] {
		if !strings.Contains(page, `href="/m/egm?lang=`+lang+`"`) {
			t.Errorf("no link to the page in %s", lang)
		}
	}

	// Full: the waiting list is open, and the form stays. The web process
	// keeps a rendered page for a second: within it, the page is the same;
	// after it, the meeting is read again.
	b.mustRegister("egm", "Ada", "ada@example.org", convene.StatusConfirmed)
	b.mustRegister("egm", "Grace", "grace@example.org", convene.StatusConfirmed)
	clk.add(900 * time.Millisecond)
	if again := b.serveRaw("GET", "/m/egm", nil, "").Body.String(); again != page {
		t.Error("within a second, the page was rendered again")
	}
	clk.add(200 * time.Millisecond)
	page = wantPage(t, "full meeting", b.serveRaw("GET", "/m/egm", nil, ""), http.StatusOK)
	if !strings.Contains(page, words(t, "en", "meeting.waiting_list")) || !strings.Contains(page, "<form") {
		t.Errorf("a full meeting's page does not say the waiting list is open, with the form:\n%s", page)
	}
}

func TestPagesStylesheetIsServedForGood(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.serveRaw("GET", templates.StylesheetPath, nil, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || rec.Body.String() != string(templates.Stylesheet()) {
		t.Fatalf("GET %s: %d %q, %d bytes", templates.StylesheetPath, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q, want it cached for good (its name holds its hash)", cc)
	}
	if rec := b.serveRaw("GET", "/assets/convene.0000.css", nil, ""); rec.Code != http.StatusNotFound {
		t.Errorf("another stylesheet name: %d, want 404", rec.Code)
	}
}

func TestMeetingPageLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"2030-03-01T08:00:00Z","timezone":"UTC"}`)
	tests := []struct {
		name, query, accept, want string
	}{
		{"default", "", "", "en"},
		{"query", "?lang=ar", "fr", "ar"},
		{"accept-language", "", "fr-CH, fr;q=0.9, en;q=0.8", "fr"},
		{"accept-language with a region", "", "es-419", "es"},
		{"traditional Chinese reads Chinese", "", "zh-TW", "zh"},
		{"accept-language of another language", "", "de-DE, de;q=0.9", "en"},
		{"unknown query falls back to accept-language", "?lang=xx", "ru", "ru"},
		{"malformed accept-language", "", ";;q=x,,", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h http.Header
			if tt.accept != "" {
				h = hdr("Accept-Language", tt.accept)
			}
			page := wantPage(t, tt.name, b.serveRaw("GET", "/m/egm"+tt.query, h, ""), http.StatusOK)
			dir := "ltr"
			if tt.want == "ar" {
				dir = "rtl"
			}
			if want := `<html lang="` + tt.want + `" dir="` + dir + `">`; !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
			if !strings.Contains(page, words(t, tt.want, "form.submit")) {
				t.Errorf("page lacks the %s submit button", tt.want)
			}
			if want := `<option value="` + tt.want + `" lang="` + tt.want + `" selected>`; !strings.Contains(page, want) {
				t.Errorf("the page's language is not the emails' language preselected: no %s", want)
			}
			if tt.query == "?lang=ar" && !strings.Contains(page, `action="/m/egm?lang=ar"`) {
				t.Error("the form does not keep the chosen language")
			}
		})
	}
}

func TestMeetingPageWithoutTheForm(t *testing.T) {
	t.Parallel()
	clk := newClock()
	start := clk.now()
	b := setupWith(t, func(cfg *handlers.Config, _ *redis.Client) { cfg.Now = clk.now })
	starts := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	b.createMeeting(`{"id":"late","title":"Closing","starts_at":"` + starts.Format(time.RFC3339) + `","timezone":"UTC","registration_closes_at":"` + starts.Add(-24*time.Hour).Format(time.RFC3339) + `"}`)
	b.createMeeting(`{"id":"off","title":"Called off","starts_at":"` + starts.Format(time.RFC3339) + `","timezone":"UTC"}`)
	if res := b.json("POST", "/v1/meetings/off/cancel", ""); res.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}

	page := wantPage(t, "open, closing later", b.serveRaw("GET", "/m/late", nil, ""), http.StatusOK)
	if !strings.Contains(page, "<form") {
		t.Error("an open meeting's page has no form")
	}
	for _, tc := range []struct {
		name, path string
		at         time.Time
		key        string
	}{
		{"cancelled", "/m/off?lang=fr", start, "meeting.cancelled"},
		{"registration closed", "/m/late?lang=zh", starts.Add(-time.Hour), "meeting.closed"},
		{"started", "/m/late?lang=ar", starts.Add(time.Minute), "meeting.started"},
	} {
		clk.set(tc.at)
		lang := tc.path[len(tc.path)-2:]
		page := wantPage(t, tc.name, b.serveRaw("GET", tc.path, nil, ""), http.StatusOK)
		if strings.Contains(page, "<form") || strings.Contains(page, `name="email"`) {
			t.Errorf("%s: the page has a form", tc.name)
		}
		if !strings.Contains(page, words(t, lang, tc.key)) {
			t.Errorf("%s: the page does not say so in %s (%q)", tc.name, lang, words(t, lang, tc.key))
		}
		// The form, posted all the same, is a 409 page saying so.
		rec := b.form(tc.path, registrant("Ada", "ada@example.org"))
		if got := wantPage(t, tc.name+": POST", rec, http.StatusConflict); !strings.Contains(got, words(t, lang, "error.closed")) {
			t.Errorf("%s: the 409 page does not say registration is closed:\n%s", tc.name, got)
		}
	}
	if n := len(b.registrationsOf("late")) + len(b.registrationsOf("off")); n != 0 {
		t.Errorf("%d registrations stored for closed meetings", n)
	}
}

func TestMeetingPageOfAnUnknownMeeting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, lang := range convene.Languages {
		rec := b.serveRaw("GET", "/m/no-such-meeting", hdr("Accept-Language", lang), "")
		page := wantPage(t, lang, rec, http.StatusNotFound)
		if !strings.Contains(page, `lang="`+lang+`"`) || !strings.Contains(page, words(t, lang, "error.no_meeting")) {
			t.Errorf("%s: the 404 page is not in the visitor's language:\n%s", lang, page)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: the 404 page has Cache-Control %q", lang, cc)
		}
	}
	wantPage(t, "registered page", b.serveRaw("GET", "/m/no-such-meeting/registered", nil, ""), http.StatusNotFound)
	wantPage(t, "POST", b.form("/m/no-such-meeting", registrant("Ada", "ada@example.org")), http.StatusNotFound)
}

func TestRegistrationFormRegistersOnceAndNeverRevealsWhoIsRegistered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)

	rec := b.form("/m/egm", url.Values{"name": {"  Ada Lovelace "}, "email": {"Ada@Example.org"}, "organisation": {"Analytical Engines"}, "language": {"ar"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/m/egm/registered" {
		t.Fatalf("new registration: %d Location %q, want 303 to /m/egm/registered: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	regs := b.registrationsOf("egm")
	if len(regs) != 1 {
		t.Fatalf("%d registrations, want 1", len(regs))
	}
	for field, want := range map[string]any{"name": "Ada Lovelace", "email": "Ada@Example.org", "organisation": "Analytical Engines", "language": "ar", "status": convene.StatusConfirmed} {
		if regs[0][field] != want {
			t.Errorf("registration's %s = %v, want %v", field, regs[0][field], want)
		}
	}
	ada, _ := regs[0]["id"].(string)
	// Its confirmation waits in the notices outbox, as for the JSON intake.
	if n := b.pendingEmails(); n != 1 {
		t.Errorf("%d emails pending, want the confirmation", n)
	}

	// The same address again, in another case: the same answer, no second
	// registration, and its confirmation once more (the resend rule).
	base := b.pendingTaskIDs(jobs.TypeEmail)
	again := b.form("/m/egm", registrant("Someone Else", "ADA@example.ORG"))
	if again.Code != rec.Code || again.Header().Get("Location") != rec.Header().Get("Location") || again.Body.String() != rec.Body.String() {
		t.Errorf("an address already registered got %d %q %q, want exactly the answer of a new one", again.Code, again.Header().Get("Location"), again.Body)
	}
	if added, want := diff(b.pendingTaskIDs(jobs.TypeEmail), base), []string{emailTaskID("egm", ada, convene.EmailConfirmation, "2")}; !slices.Equal(added, want) {
		t.Errorf("the repeated form queued %v, want the confirmation again %v", added, want)
	}
	// Within the resend period, nothing more.
	base = b.pendingTaskIDs(jobs.TypeEmail)
	b.form("/m/egm", registrant("Ada", "ada@example.org"))
	if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); len(added) != 0 {
		t.Errorf("a third form within 10 minutes queued %v", added)
	}
	if n := len(b.registrationsOf("egm")); n != 1 {
		t.Errorf("%d registrations after repeats, want 1", n)
	}

	// The meeting is full: the next person is waitlisted, and is told the same.
	next := b.form("/m/egm?lang=ru", registrant("Grace Hopper", "grace@example.org"))
	if next.Code != http.StatusSeeOther || next.Header().Get("Location") != "/m/egm/registered?lang=ru" {
		t.Errorf("waitlisted: %d %q, want 303 to /m/egm/registered?lang=ru", next.Code, next.Header().Get("Location"))
	}
	if regs := b.registrationsOf("egm"); len(regs) != 2 || regs[1]["email"] != "grace@example.org" || regs[1]["status"] != convene.StatusWaitlisted {
		t.Errorf("registrations %v, want grace waitlisted after ada", regs)
	}

	// The page the browser lands on.
	page := wantPage(t, "registered", b.serveRaw("GET", "/m/egm/registered?lang=ru", nil, ""), http.StatusOK)
	if !strings.Contains(page, words(t, "ru", "registered.title")) || !strings.Contains(page, `href="/m/egm?lang=ru"`) {
		t.Errorf("the registered page is not the Russian 'check your inbox' with a link back:\n%s", page)
	}
}

func TestRegistrationFormShowsProblemsAndStoresNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	tests := []struct {
		name   string
		lang   string
		values url.Values
		wrong  map[string]string // field → rule
		kept   []string
	}{
		{"empty", "en", url.Values{}, map[string]string{"name": "required", "email": "required"}, nil},
		{"bad email, script in the name", "fr",
			url.Values{"name": {`<script>alert(1)</script>`}, "email": {"not-an-address"}, "organisation": {`"><b>Org</b>`}},
			map[string]string{"email": "invalid"},
			[]string{`value="&lt;script&gt;alert(1)&lt;/script&gt;"`, `value="not-an-address"`, `value="&#34;&gt;&lt;b&gt;Org&lt;/b&gt;"`}},
		{"too long, on two lines, unknown language", "ar",
			url.Values{"name": {strings.Repeat("n", 201)}, "email": {"ada@example.org"}, "organisation": {"Line\nbreak"}, "language": {"xx"}},
			map[string]string{"name": "too_long", "organisation": "invalid", "language": "invalid"},
			[]string{`value="ada@example.org"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := b.form("/m/egm?lang="+tt.lang, tt.values)
			page := wantPage(t, tt.name, rec, http.StatusBadRequest)
			if !strings.Contains(page, `<div class="error-summary" role="alert"`) {
				t.Fatalf("no error summary:\n%s", page)
			}
			summary := page[strings.Index(page, `<div class="error-summary"`):]
			summary = summary[:strings.Index(summary, "</div>")]
			for field, rule := range tt.wrong {
				msg := words(t, tt.lang, "form.error."+field+"."+rule)
				if !strings.Contains(summary, `<a href="#`+field+`">`+msg+`</a>`) {
					t.Errorf("the summary does not link to %s with %q:\n%s", field, msg, summary)
				}
				if !strings.Contains(page, `<p class="error-message" id="`+field+`-error">`+msg+`</p>`) {
					t.Errorf("no message beside %s", field)
				}
				if !strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, field+`-error"`) {
					t.Errorf("%s is not marked invalid and described by its message", field)
				}
			}
			if n := strings.Count(summary, "<li>"); n != len(tt.wrong) {
				t.Errorf("the summary lists %d problems, want %d:\n%s", n, len(tt.wrong), summary)
			}
			for _, k := range tt.kept {
				if !strings.Contains(page, k) {
					t.Errorf("the form does not keep %s", k)
				}
			}
			if strings.Contains(page, "<script") || strings.Contains(page, "<b>") {
				t.Errorf("what was typed became markup:\n%s", page)
			}
			if !strings.Contains(page, "<title>"+words(t, tt.lang, "page.error_prefix", "Title", "Expert group")+"</title>") {
				t.Errorf("the title does not say there is an error")
			}
		})
	}
	if n := len(b.registrationsOf("egm")); n != 0 || b.pendingEmails() != 0 {
		t.Errorf("invalid forms stored %d registrations and %d emails", n, b.pendingEmails())
	}
}

func TestRegistrationFormRefusesWhatIsNotAPersonOnThisSite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	ada := registrant("Ada", "ada@example.org")

	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site subdomain", []string{"Sec-Fetch-Site", "same-site"}},
		{"foreign origin without fetch metadata", []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	} {
		req := httptest.NewRequest("POST", "/m/egm", strings.NewReader(ada.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(tc.headers); i += 2 {
			if tc.headers[i+1] == "" {
				continue
			}
			req.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		if page := wantPage(t, tc.name, rec, http.StatusForbidden); !strings.Contains(page, words(t, "en", "error.forbidden")) {
			t.Errorf("%s: the 403 page does not say why:\n%s", tc.name, page)
		}
	}

	// A robot fills the hidden field: it is told what a person is, and
	// nothing is stored.
	bot := registrant("Bot", "bot@example.org")
	bot.Set("website", "https://spam.example")
	if rec := b.form("/m/egm", bot); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/m/egm/registered" {
		t.Errorf("honeypot: %d %q, want the same 303 as a person", rec.Code, rec.Header().Get("Location"))
	}

	// Bodies that are not a form, or too large.
	big := registrant("Ada", "ada@example.org")
	big.Set("organisation", strings.Repeat("x", handlers.MaxBodyBytes))
	wantPage(t, "oversized", b.form("/m/egm", big), http.StatusRequestEntityTooLarge)
	rec := b.serveRaw("POST", "/m/egm", hdr("Content-Type", "application/json", "Sec-Fetch-Site", "same-origin"), `{"name":"Ada","email":"ada@example.org"}`)
	wantPage(t, "JSON to the form", rec, http.StatusUnsupportedMediaType)

	if n := len(b.registrationsOf("egm")); n != 0 || b.pendingEmails() != 0 {
		t.Errorf("refused posts stored %d registrations and %d emails", n, b.pendingEmails())
	}
}

func TestRegistrationFormHoldsCapacityUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":5}`)
	const n = 30
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req := httptest.NewRequest("POST", "/m/egm", strings.NewReader(registrant("P", "p"+string(rune('a'+i/26))+string(rune('a'+i%26))+"@example.org").Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusSeeOther {
			t.Errorf("post %d: %d, want 303", i, c)
		}
	}
	counts := b.countsOf("egm")
	if counts.Confirmed != 5 || counts.Waitlisted != n-5 {
		t.Errorf("counts %+v, want 5 confirmed and %d waitlisted", counts, n-5)
	}
}

func TestRegistrationFormLimitsAndOutages(t *testing.T) {
	t.Parallel()
	b := setupWith(t, func(cfg *handlers.Config, rdb *redis.Client) {
		l := ratelimit.New(rdb, "cv")
		t.Cleanup(l.Close)
		cfg.Limiter = l
		cfg.RatePerIP = 2
		cfg.RatePerEmail = 10
	})
	b.createMeeting(`{"id":"egm","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	for i, email := range []string{"a@example.org", "b@example.org"} {
		if rec := b.form("/m/egm", registrant("P", email)); rec.Code != http.StatusSeeOther {
			t.Fatalf("post %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := b.form("/m/egm?lang=es", registrant("P", "c@example.org"))
	page := wantPage(t, "over the limit", rec, http.StatusTooManyRequests)
	if ra := rec.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 without Retry-After")
	}
	if !strings.Contains(page, words(t, "es", "error.too_many")) || !strings.Contains(page, `lang="es"`) {
		t.Errorf("the 429 page does not say so in Spanish:\n%s", page)
	}
	if n := len(b.registrationsOf("egm")); n != 2 {
		t.Errorf("%d registrations, want the 2 under the limit", n)
	}

	b.redis.Stop()
	rec = b.form("/m/egm?lang=zh", registrant("P", "d@example.org"))
	page = wantPage(t, "Redis down", rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" || !strings.Contains(page, words(t, "zh", "error.unavailable")) {
		t.Errorf("the 503 page lacks Retry-After or the Chinese explanation:\n%s", page)
	}
	wantPage(t, "Redis down: GET", b.serveRaw("GET", "/m/egm", nil, ""), http.StatusServiceUnavailable)
}
