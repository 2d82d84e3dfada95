package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"convene/internal/smtpsink"
)

// The participant's web side in a real browser, in every language: the
// meeting's page, its form (wrong, then right), "check your inbox", the
// confirmation email, the personal link and its cancel button; a closed
// meeting and an unknown one. On every page state axe-core finds no WCAG
// 2.2 AA violation, a 360 px phone needs no horizontal scroll, and a
// screenshot at phone and desktop width goes to var/screenshots/.

var pageLanguages = []string{"en", "fr", "es", "ru", "ar", "zh"}

// axeTags are the axe-core rule tags the pages must pass.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// axeSource reads axe-core, which scripts/test.sh installs from npm into
// var/npm (CONVENE_AXE names it).
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CONVENE_AXE")
	if path == "" {
		path = filepath.Join("..", "var", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core is missing (%v): run scripts/test.sh, which installs it from npm into var/npm", err)
	}
	return string(b)
}

// screenshotDir is var/screenshots at the repository's root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "var", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// looker checks and photographs page states in one tab.
type looker struct {
	t   *testing.T
	ctx context.Context
	axe string
	dir string
}

// look runs axe on the page the tab shows, checks that a phone needs no
// horizontal scroll, and saves desktop and phone screenshots as
// {state}-{lang}-{desktop|phone}.png. It leaves the tab at desktop width.
func (l looker) look(state, lang string) {
	t := l.t
	t.Helper()
	// axe judges what a person sees: the page loaded, its stylesheet applied.
	waitFor(t, l.ctx, state+"/"+lang+": the page loaded with its stylesheet",
		`document.readyState === 'complete' && document.styleSheets.length > 0 && getComputedStyle(document.body).backgroundColor === 'rgb(243, 244, 246)'`)
	if _, err := chromedp.Run(l.ctx, chromedp.Evaluate[bool](l.axe+";true")); err != nil {
		t.Fatalf("%s/%s: inject axe: %v", state, lang, err)
	}
	tags, _ := json.Marshal(axeTags)
	expr := `axe.run(document, {runOnly: {type: 'tag', values: ` + string(tags) + `}}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.html)}))))`
	violations, err := chromedp.Run(l.ctx, chromedp.Evaluate[string](expr, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if err != nil {
		t.Fatalf("%s/%s: run axe: %v", state, lang, err)
	}
	if violations != "[]" {
		t.Errorf("%s/%s: axe-core found WCAG violations: %s", state, lang, violations)
	}
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"phone", 360, 780, true}, {"desktop", 1280, 900, false}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(l.ctx, chromedp.EmulateViewport(size.width, size.height, opts...)); err != nil {
			t.Fatal(err)
		}
		if size.mobile {
			wide, err := chromedp.Run(l.ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
			if err != nil || wide {
				t.Errorf("%s/%s: on a 360 px phone the page scrolls sideways (%v)", state, lang, err)
			}
		}
		png, err := chromedp.Run(l.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s/%s: screenshot: %v", state, lang, err)
		}
		if err := os.WriteFile(filepath.Join(l.dir, fmt.Sprintf("%s-%s-%s.png", state, lang, size.name)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// htmlAttr is an attribute of the document's <html>.
func htmlAttr(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.getAttribute(`+fmt.Sprintf("%q", name)+`) || ""`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor polls expr (a boolean JavaScript expression) in the page until
// it is true, for 20 s at most; errors while the page navigates are
// polled over.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: not within 20 s (%v); page:\n%s", what, err, text)
		}
		<-time.After(50 * time.Millisecond) // poll again
	}
}

// mailTo waits for the message the sink received for addr.
func mailTo(t *testing.T, sink *smtpsink.Sink, addr string) smtpsink.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range sink.Messages() {
			if len(m.To) == 1 && m.To[0] == addr {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email for %s within 30 s", addr)
		}
		<-time.After(50 * time.Millisecond) // poll again

	}
}

var personalLink = regexp.MustCompile(`https://convene\.test(/r/[A-Za-z0-9._~-]+)`)

func TestParticipantPagesInEveryLanguageInABrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test drives Chromium at %s, which is missing (%v): run scripts/test.sh", chromium, err)
	}
	axe := axeSource(t)
	s := newSystem(t)
	web := s.start(t, "web")
	s.start(t, "worker")
	createMeeting(t, web, "open-data", 100)
	createMeeting(t, web, "called-off", 10)
	if code, res := call(t, "POST", web.addr+"/v1/meetings/called-off/cancel", organiser, ""); code != http.StatusOK {
		t.Fatalf("cancel: %d %v", code, res)
	}
	browser := startChromiumFor(t, 5*time.Minute)
	dir := screenshotDir(t)

	for _, lang := range pageLanguages {
		t.Run(lang, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
			defer cancel()
			l := looker{t: t, ctx: ctx, axe: axe, dir: dir}
			dir := "ltr"
			if lang == "ar" {
				dir = "rtl"
			}
			// The meeting's page.
			if err := chromedp.Do(ctx, chromedp.Navigate(web.addr+"/m/open-data?lang="+lang), chromedp.WaitVisible(chromedp.CSS("#register"))); err != nil {
				t.Fatalf("open the meeting's page: %v", err)
			}
			if got := htmlAttr(t, ctx, "lang") + " " + htmlAttr(t, ctx, "dir"); got != lang+" "+dir {
				t.Errorf("<html lang dir> = %q, want %q", got, lang+" "+dir)
			}
			l.look("meeting", lang)

			// A wrong form: the error summary, the fields marked, the values kept.
			if err := chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS("#email"), "not-an-address"),
				chromedp.Click(chromedp.CSS("#register")),
				chromedp.WaitVisible(chromedp.CSS(".error-summary")),
			); err != nil {
				t.Fatalf("send a wrong form: %v", err)
			}
			checks, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
				!!document.querySelector('.error-summary a[href="#name"]'),
				!!document.querySelector('.error-summary a[href="#email"]'),
				document.querySelector('#email').value === 'not-an-address',
				document.querySelector('#name').getAttribute('aria-invalid') === 'true',
				(document.querySelector('#email').getAttribute('aria-describedby') || '').includes('email-error'),
				document.title.length > 0].join()`))
			if err != nil || checks != "true,true,true,true,true,true" {
				t.Errorf("the wrong form's page: %q %v (summary links to name and email, value kept, aria-invalid, aria-describedby)", checks, err)
			}
			l.look("invalid", lang)

			// The right form, in the page's language.
			addr := "delegate-" + lang + "@example.org"
			// Clear the wrong address and choose the emails' language as a
			// person does with the select.
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#email').value = ''; document.querySelector('#language').value = '`+lang+`'; true`)); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS("#name"), "Delegate <script>"+lang+"</script>"),
				chromedp.SendKeys(chromedp.CSS("#email"), addr),
				chromedp.SendKeys(chromedp.CSS("#organisation"), "Statistics Office"),
				chromedp.Click(chromedp.CSS("#register")),
			); err != nil {
				t.Fatalf("send the form: %v", err)
			}
			waitFor(t, ctx, "the check-your-inbox page", `location.pathname === '/m/open-data/registered'`)
			if got := htmlAttr(t, ctx, "lang"); got != lang {
				t.Errorf("the registered page is in %q, want %q", got, lang)
			}
			l.look("registered", lang)

			// The confirmation, in the registration's language.
			m := mailTo(t, s.sink, addr)
			html, _ := m.Part("text/html")
			text, _ := m.Part("text/plain")
			if !strings.Contains(string(html.Body), `<html lang="`+lang+`" dir="`+dir+`">`) {
				t.Errorf("the confirmation's HTML is not in %s:\n%s", lang, html.Body)
			}
			if subject := m.Header("Subject"); lang != "en" && strings.Contains(subject, "Registration confirmed") {
				t.Errorf("subject %q is English", subject)
			}
			if !strings.Contains(string(text.Body), "Delegate <script>"+lang+"</script>") || strings.Contains(string(html.Body), "<script>") {
				t.Errorf("the name did not arrive as text")
			}
			link := personalLink.FindStringSubmatch(string(text.Body))
			if link == nil {
				t.Fatalf("no personal link in:\n%s", text.Body)
			}

			// The personal page, and cancelling.
			if err := chromedp.Do(ctx, chromedp.Navigate(web.addr+link[1]), chromedp.WaitVisible(chromedp.CSS(`form[action$="/cancel"] button`))); err != nil {
				t.Fatalf("open the personal link: %v", err)
			}
			if got := htmlAttr(t, ctx, "lang"); got != lang {
				t.Errorf("the personal page is in %q, want the registration's %q", got, lang)
			}
			l.look("personal", lang)
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action$="/cancel"] button`)), chromedp.WaitVisible(chromedp.CSS(".status.cancelled"))); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			l.look("cancelled", lang)

			// A cancelled meeting: no form. An unknown one: a 404 page.
			if err := chromedp.Do(ctx, chromedp.Navigate(web.addr+"/m/called-off?lang="+lang), chromedp.WaitVisible(chromedp.CSS(".status.closed"))); err != nil {
				t.Fatalf("open the cancelled meeting: %v", err)
			}
			if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.forms.length`)); n != 0 {
				t.Errorf("a cancelled meeting's page has %d forms", n)
			}
			l.look("closed", lang)
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(web.addr+"/m/no-such-meeting?lang="+lang))
			if err != nil || resp.Status != http.StatusNotFound {
				t.Fatalf("unknown meeting: %v %v, want 404", resp, err)
			}
			l.look("not-found", lang)
		})
	}

	// Without JavaScript at all, a person registers the same way.
	t.Run("no-javascript", func(t *testing.T) {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		defer cancel()
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx,
			chromedp.Navigate(web.addr+"/m/open-data?lang=fr"),
			chromedp.WaitVisible(chromedp.CSS("#register")),
			chromedp.SendKeys(chromedp.CSS("#name"), "Sans Script"),
			chromedp.SendKeys(chromedp.CSS("#email"), "noscript@example.org"),
			chromedp.Click(chromedp.CSS("#register")),
		); err != nil {
			t.Fatalf("register without JavaScript: %v", err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var url string
			h, err := chromedp.Call(ctx, page.GetNavigationHistory, cdp.Empty{})
			if err == nil && int(h.CurrentIndex) < len(h.Entries) {
				url = h.Entries[h.CurrentIndex].URL
			}
			if err == nil && strings.HasSuffix(url, "/m/open-data/registered?lang=fr") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("without JavaScript the browser is at %q (%v), want the registered page", url, err)
			}
			<-time.After(50 * time.Millisecond) // poll again
		}
		m := mailTo(t, s.sink, "noscript@example.org")
		if !strings.Contains(m.Header("Subject"), "Inscription") {
			t.Errorf("the confirmation sent without JavaScript has subject %q, want the French one", m.Header("Subject"))
		}
	})
	t.Logf("screenshots in %s", dir)
}
