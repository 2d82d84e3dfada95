package e2e_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's Chromium, which scripts/test.sh installs.
const chromium = "/usr/bin/chromium"

// browserTimeout bounds everything the browser does in one test.
const browserTimeout = 60 * time.Second

// TestOpsQueueUIInABrowser logs in to the queue UI at /ops/queues/ the way
// a person does in a browser: the server's basic-auth challenge is answered
// with the ops token as the password, and the React app then lists the
// critical queue. Without credentials, and with a wrong password, the
// browser gets the 401 and no UI.
func TestOpsQueueUIInABrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("this test drives Chromium at %s, which is missing (%v): run scripts/test.sh, which installs Debian's chromium package", chromium, err)
	}
	const token = "e2e-ops-token-5d1c"
	s := newSystem(t)
	web := s.start(t, "web", "OPS_TOKEN="+token)
	s.start(t, "worker")
	createMeeting(t, web, "ops-ui", 10)
	if code, res := call(t, "POST", web.addr+"/v1/meetings/ops-ui/registrations", "", `{"name":"Ada Lovelace","email":"ada@example.org"}`); code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, res)
	}
	// The confirmation went through the critical queue: it exists, and the
	// worker has drained it.
	s.sink.WaitCount(t, 1, 20*time.Second)
	ui := web.addr + "/ops/queues/"
	browser := startChromium(t)

	// No credentials: the person dismisses the login prompt.
	anon := openTab(t, browser, "no-credentials", func(int) *fetch.AuthChallengeResponse {
		return &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
	})
	checkRefused(t, anon, ui, 1)

	// A wrong password: the server challenges again, and the person gives up.
	wrong := openTab(t, browser, "wrong-password", func(n int) *fetch.AuthChallengeResponse {
		if n == 1 {
			return &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "ops", Password: "not-" + token}
		}
		return &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
	})
	checkRefused(t, wrong, ui, 2)

	// The token as the password of any user name: the UI renders.
	ops := openTab(t, browser, "ops-queues", func(int) *fetch.AuthChallengeResponse {
		return &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "ops", Password: token}
	})
	resp, err := chromedp.Run(ops.ctx, chromedp.NavigateResponse(ui))
	if err != nil {
		t.Fatalf("navigate to %s with the token: %v\n%s", ui, err, ops.report())
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("with the token, %s answered %d", ui, resp.Status)
	}
	wait, cancel := context.WithTimeout(ops.ctx, 30*time.Second)
	defer cancel()
	// The link to the critical queue in the table of queues (the chart
	// above the table names the queue too).
	link := chromedp.Search(`//table//a[@href="/ops/queues/queues/critical" and normalize-space(.)="critical"]`)
	if err := chromedp.Do(wait, chromedp.WaitVisible(link)); err != nil {
		t.Fatalf("the queue list did not show the critical queue: %v\npage text:\n%s\n%s", err, pageText(ops), ops.report())
	}
	if text := pageText(ops); !strings.Contains(text, "critical") {
		t.Fatalf("page text without the critical queue:\n%s", text)
	}
	row, err := chromedp.Run(ops.ctx, chromedp.Text(chromedp.Search(`//table//tr[.//a[@href="/ops/queues/queues/critical"]]`)))
	if err != nil {
		t.Fatalf("read the row of the critical queue: %v", err)
	}
	if f := strings.Fields(row); len(f) < 2 || f[0] != "critical" || f[1] != "run" {
		t.Errorf("the row of the critical queue reads %q, want the queue running", row)
	}
	ops.mu.Lock()
	responses, failures, challenges := ops.responses, ops.failures, len(ops.challenges)
	ops.mu.Unlock()
	api := 0
	for _, r := range responses {
		if !strings.HasPrefix(r.URL, ui) {
			continue
		}
		if r.Status >= 400 {
			t.Errorf("the UI got %d for %s", r.Status, r.URL)
		} else if strings.HasPrefix(r.URL, ui+"api/") {
			api++
		}
	}
	if api == 0 {
		t.Errorf("the UI rendered without a successful call to %sapi/...:\n%s", ui, ops.report())
	}
	for _, f := range failures {
		if strings.Contains(f, ui) {
			t.Errorf("a request of the UI failed: %s", f)
		}
	}
	if challenges == 0 {
		t.Errorf("the UI loaded without a login challenge")
	}
	t.Logf("logged in after %d challenge(s); %d successful API responses; row %q\n%s", challenges, api, row, ops.report())
}

// checkRefused navigates tb to the UI and checks that the browser got the
// 401 with the basic-auth challenge, after want challenges, and shows the
// JSON error instead of the UI.
func checkRefused(t *testing.T, tb *tab, ui string, want int) {
	t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(ui))
	if err != nil {
		t.Fatalf("%s: navigate to %s: %v\n%s", tb.name, ui, err, tb.report())
	}
	if resp.Status != http.StatusUnauthorized {
		t.Errorf("%s: %s answered %d, want 401", tb.name, ui, resp.Status)
	}
	if h := header(resp.Headers, "WWW-Authenticate"); !strings.HasPrefix(h, `Basic realm="Convene ops"`) {
		t.Errorf("%s: WWW-Authenticate %q", tb.name, h)
	}
	tb.mu.Lock()
	challenges := tb.challenges
	tb.mu.Unlock()
	if len(challenges) != want {
		t.Errorf("%s: %d login challenges, want %d", tb.name, len(challenges), want)
	}
	for _, c := range challenges {
		if !strings.EqualFold(c.Scheme, "basic") || c.Realm != "Convene ops" {
			t.Errorf("%s: challenge %+v", tb.name, c)
		}
	}
	text := pageText(tb)
	if !strings.Contains(text, "the ops token is required") || strings.Contains(text, "critical") {
		t.Errorf("%s: page text:\n%s", tb.name, text)
	}
}

// startChromium starts headless Chromium with a fresh profile, with the
// flags this machine's closed network needs, and returns a context on it
// that ends after browserTimeout.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	return startChromiumFor(t, browserTimeout)
}

// startChromiumFor is startChromium with the browser's time bound.
func startChromiumFor(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	var out lockedBuffer
	profile := t.TempDir()
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&out),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits until Chromium exits, before its profile is removed
		cancelTimeout()
		if t.Failed() {
			t.Logf("output of chromium (without its complaints that there is no D-Bus):\n%s", withoutDBus(out.String()))
		}
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return browser
}

// keptHint tells how to keep the artifacts when go test removes them.
func keptHint() string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return ""
	}
	return " (removed when the test ends: run go test with -artifacts -outputdir DIR to keep it)"
}

// withoutDBus drops the lines in which Chromium says it cannot reach D-Bus,
// which it does many times at every start on a machine without it.
func withoutDBus(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// tab is a tab in a browser context of its own (its own cookies and HTTP
// auth cache), whose Fetch domain pauses every request and every login
// challenge. It records what the page received.
type tab struct {
	name string
	ctx  context.Context

	mu         sync.Mutex
	challenges []*fetch.AuthChallenge
	responses  []*network.Response
	failures   []string
	console    []string
	urls       map[network.RequestID]string
}

// openTab opens a tab whose n-th login challenge (from 1) answer answers,
// as a person at the browser's login prompt would. When the test ends it
// saves a screenshot of the tab as <name>.png in the test's artifact
// directory, and logs its path if the test failed.
func openTab(t *testing.T, browser context.Context, name string, answer func(n int) *fetch.AuthChallengeResponse) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb := &tab{name: name, ctx: ctx, urls: map[network.RequestID]string{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab %s: %v", name, err)
	}
	shot := filepath.Join(t.ArtifactDir(), name+".png")
	t.Cleanup(func() { // runs before the cleanup above, with the tab still open
		if err := tb.screenshot(shot); err != nil {
			t.Logf("%s: no screenshot: %v", name, err)
		} else if t.Failed() {
			t.Logf("%s: screenshot %s%s", name, shot, keptHint())
		}
	})

	if err := chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.urls[ev.RequestID] = ev.Request.URL
		case *network.EventResponseReceived:
			tb.responses = append(tb.responses, ev.Response)
		case *network.EventLoadingFailed:
			tb.failures = append(tb.failures, fmt.Sprintf("%s %s: %s", ev.Type, tb.urls[ev.RequestID], ev.ErrorText))
		}
	}); err != nil {
		t.Fatal(err)
	}
	console := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				tb.mu.Lock()
				tb.console = append(tb.console, fmt.Sprintf("%s %s: %s", m.Type, m.URL, m.Text))
				tb.mu.Unlock()
			}
		}
	})

	paused := chromedp.Events(ctx, fetch.RequestPaused)
	wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil && ctx.Err() == nil {
				tb.fail("continue %s: %v", ev.Request.URL, err)
			}
		}
	})
	challenges := chromedp.Events(ctx, fetch.AuthRequired)
	wg.Go(func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.challenges = append(tb.challenges, ev.AuthChallenge)
			n := len(tb.challenges)
			tb.mu.Unlock()
			if _, err := chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer(n)}); err != nil && ctx.Err() == nil {
				tb.fail("answer the challenge of %s: %v", ev.Request.URL, err)
			}
		}
	})
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatalf("%s: enable Fetch: %v", name, err)
	}
	return tb
}

func (tb *tab) fail(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failures = append(tb.failures, fmt.Sprintf(format, args...))
}

func (tb *tab) screenshot(path string) error {
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// report lists the responses, failures and console messages of the tab.
func (tb *tab) report() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d login challenge(s)\n", len(tb.challenges))
	for _, r := range tb.responses {
		fmt.Fprintf(&b, "response %d %s\n", r.Status, r.URL)
	}
	for _, f := range tb.failures {
		fmt.Fprintf(&b, "failed %s\n", f)
	}
	for _, c := range tb.console {
		fmt.Fprintf(&b, "console %s\n", c)
	}
	return b.String()
}

// pageText is the text of the page of tb, or the error that hid it.
func pageText(tb *tab) string {
	text, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(no text: %v)", err)
	}
	return text
}

// header is the value of the header name in h, whatever its case.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// lockedBuffer collects Chromium's output, which arrives on another
// goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
