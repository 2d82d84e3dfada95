package main

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// page measures GET /m/{id}, a meeting's public registration page, at
// intakeClients concurrent clients for intakeFor after a warm-up of the
// same load, on convene web alone, for a meeting holding pageRegs
// registrations (capacity twice that, so the page counts the seats left).
// Only 200 answers with an HTML form count.
func (b *bench) page(ctx context.Context, r *results) error {
	n := b.sz.pageRegs
	e, err := b.newEnv(ctx, "page")
	if err != nil {
		return err
	}
	defer e.close()
	web, err := e.start(ctx, "web")
	if err != nil {
		return err
	}
	const id = "page"
	if err := e.createMeetingOf(ctx, web, id, 2*n); err != nil {
		return err
	}
	setup := time.Now()
	if err := e.register(ctx, web, id, "p", n); err != nil {
		return err
	}
	if got, err := e.confirmed(ctx, web, id); err != nil {
		return err
	} else if got != n {
		return fmt.Errorf("meeting %s holds %d confirmed registrations, want %d", id, got, n)
	}
	b.logf("%d participants registered in %.1f s", n, time.Since(setup).Seconds())

	client := newHTTPClient(2 * b.sz.intakeClients)
	l := load{
		method: http.MethodGet, url: web.addr + "/m/" + id,
		want: http.StatusOK, check: isFormPage,
		clients: b.sz.intakeClients, dur: b.sz.intakeWarmup,
	}
	l.run(ctx, client)
	l.dur = b.sz.intakeFor
	wait := e.profile(ctx, web, l.dur)
	before := web.cpuTime()
	res := l.run(ctx, client)
	cpu := cpuPer(web.cpuTime()-before, res.ok)
	wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.ok == 0 {
		return fmt.Errorf("no page was served: %s", res.problems())
	}
	b.logf("convene page: %s; its CPU time: %s", res.summary(), cpu)

	r.PageRPS, r.PageP99 = res.rps(), percentile(res.latency, 0.99)
	r.note("page GET /m/{id} (%d clients, %.1f s after %.1f s warm-up, %d registrations): %s",
		b.sz.intakeClients, b.sz.intakeFor.Seconds(), b.sz.intakeWarmup.Seconds(), n, res.summary())
	r.note("page CPU time: convene web %s", cpu)
	return nil
}

// form measures registrations through the HTML form, POST /m/{id}, as the
// intake phase measures the JSON intake: intakeClients concurrent clients
// for intakeFor after a warm-up, convene web alone, unique addresses. The
// intake limits are on, in the production shape (benchRatePerIP,
// benchRatePerEmail), whatever -limits says, and the clients' connections
// come from up to sourceAddrs loopback addresses, as real traffic comes
// from many (see startWeb). Only a 303 to /m/{id}/registered counts; the
// redirect is not followed.
func (b *bench) form(ctx context.Context, r *results) error {
	e, err := b.newEnv(ctx, "form")
	if err != nil {
		return err
	}
	defer e.close()
	// The limits are on whatever -limits says: this phase always ran so.
	web, err := e.startWeb(ctx, true)
	if err != nil {
		return err
	}
	const id = "form"
	if err := e.createMeeting(ctx, web, id); err != nil {
		return err
	}

	client := e.client(2 * b.sz.intakeClients)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	l := load{
		url: web.addr + "/m/" + id, body: formBody("w"), contentType: "application/x-www-form-urlencoded",
		// What a browser sends with a form posted from the page itself.
		header: http.Header{"Origin": {web.addr}, "Sec-Fetch-Site": {"same-origin"}},
		want:   http.StatusSeeOther, check: redirectsTo("/m/" + id + "/registered"),
		clients: b.sz.intakeClients, dur: b.sz.intakeWarmup,
	}
	warm := l.run(ctx, client)
	l.body, l.dur = formBody("p"), b.sz.intakeFor
	wait := e.profile(ctx, web, l.dur)
	before := web.cpuTime()
	res := l.run(ctx, client)
	cpu := cpuPer(web.cpuTime()-before, res.ok)
	wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.ok == 0 {
		return fmt.Errorf("no registration was redirected: %s", res.problems())
	}
	// A 303 promises a stored registration: check that there are as many.
	stored, err := e.confirmed(ctx, web, id)
	if err != nil {
		return err
	}
	if stored < warm.ok+res.ok {
		return fmt.Errorf("%d registrations stored after %d answers 303", stored, warm.ok+res.ok)
	}
	limits := e.limits()
	b.logf("convene form intake: %s; its CPU time: %s", res.summary(), cpu)
	b.logf("limits %s", limits)

	r.FormIntakeRPS = res.rps()
	r.ranWith("form", limits, warm, res)
	r.note("form intake POST /m/{id} (%d clients, %.1f s after %.1f s warm-up, limits %s): %s",
		b.sz.intakeClients, b.sz.intakeFor.Seconds(), b.sz.intakeWarmup.Seconds(), limits, res.summary())
	r.note("form intake CPU time: convene web %s", cpu)
	return nil
}

// confirmed returns a meeting's count of confirmed registrations, through
// the organiser API.
func (e *env) confirmed(ctx context.Context, web *proc, id string) (int, error) {
	code, res, err := apiCall(ctx, e.http, http.MethodGet, web.addr+"/v1/meetings/"+id, "")
	if err != nil {
		return 0, fmt.Errorf("get meeting %s: %w", id, err)
	}
	counts, _ := res["counts"].(map[string]any)
	n, ok := counts["confirmed"].(float64)
	if code != http.StatusOK || !ok {
		return 0, fmt.Errorf("get meeting %s: %d %v", id, code, res)
	}
	return int(n), nil
}

// isFormPage checks that a page is HTML with a form in it: the meeting's
// page while its registration is open.
func isFormPage(res *http.Response, answer []byte) string {
	ct := res.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/html" {
		return fmt.Sprintf("Content-Type %q", ct)
	}
	if !bytes.Contains(answer, []byte("<form")) {
		return "the page has no <form>"
	}
	return ""
}

// redirectsTo checks that an answer's Location names path.
func redirectsTo(path string) func(*http.Response, []byte) string {
	return func(res *http.Response, _ []byte) string {
		loc := res.Header.Get("Location")
		if u, err := url.Parse(loc); err != nil || u.Path != path {
			return fmt.Sprintf("Location %q, want %s", loc, path)
		}
		return ""
	}
}

// formBody returns a body maker for unique form registrations: the
// address of request i is <prefix><i>@example.org.
func formBody(prefix string) func(int) []byte {
	return func(i int) []byte {
		return []byte(url.Values{
			"name":         {fmt.Sprintf("Participant %s%d", prefix, i)},
			"email":        {fmt.Sprintf("%s%d@example.org", prefix, i)},
			"organisation": {"Benchmark Organisation"},
			"language":     {"en"},
		}.Encode())
	}
}
