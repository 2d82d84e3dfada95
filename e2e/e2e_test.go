package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"convene/internal/smtpsink"
	"convene/internal/testredis"
)

const organiser = "e2e-organiser-token"

type system struct {
	redis *testredis.Server
	sink  *smtpsink.Sink
	env   []string
}

func newSystem(t *testing.T) *system { return newSystemTB(t) }

func newSystemTB(t testing.TB) *system {
	t.Helper()
	r := testredis.Start(t)
	sink := smtpsink.Start(t)
	return &system{redis: r, sink: sink, env: []string{
		"REDIS_URL=" + r.URL(),
		"MAIL_URL=" + sink.URL(),
		"MAIL_FROM=Convene <no-reply@convene.test>",
		"ORGANISER_TOKENS=" + organiser,
		"PUBLIC_URL=https://convene.test",
	}}
}

func (s *system) start(t testing.TB, mode string, env ...string) *process {
	t.Helper()
	return start(t, mode, append(append([]string{}, s.env...), env...)...)
}

func createMeeting(t testing.TB, web *process, id string, capacity int) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"title":"Training on open data","kind":"training","starts_at":%q,"timezone":"Europe/Zurich","capacity":%d,"location":"Room 3"}`,
		id, time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339), capacity)
	if code, res := call(t, "POST", web.addr+"/v1/meetings", organiser, body); code != http.StatusCreated {
		t.Fatalf("create meeting: %d %v", code, res)
	}
}

func TestRegistrationToConfirmationEmail(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	s.start(t, "worker")
	createMeeting(t, web, "odt-2026", 1)

	code, reg := call(t, "POST", web.addr+"/v1/meetings/odt-2026/registrations", "", `{"name":"Ada Lovelace","email":"ada@example.org","organisation":"Analytical Engines"}`)
	if code != http.StatusCreated || reg["status"] != "confirmed" {
		t.Fatalf("register: %d %v", code, reg)
	}
	id := reg["id"].(string)
	msg := s.sink.WaitCount(t, 1, 20*time.Second)[0]
	if msg.Header("X-Convene-Kind") != "confirmation" || msg.Header("X-Convene-Registration") != id || msg.Header("X-Convene-Meeting") != "odt-2026" {
		t.Fatalf("headers: kind %q registration %q meeting %q", msg.Header("X-Convene-Kind"), msg.Header("X-Convene-Registration"), msg.Header("X-Convene-Meeting"))
	}
	if len(msg.To) != 1 || msg.To[0] != "ada@example.org" {
		t.Fatalf("recipients %v", msg.To)
	}
	cal, ok := msg.Part("text/calendar")
	if !ok || !strings.Contains(string(cal.Body), "BEGIN:VEVENT") || !strings.Contains(string(cal.Body), "UID:odt-2026@convene.test") {
		t.Fatalf("calendar part %v: %s", ok, cal.Body)
	}
	if text, _ := msg.Part("text/plain"); !strings.Contains(string(text.Body), "https://convene.test/r/odt-2026."+id+".") {
		t.Fatalf("no personal link in:\n%s", text.Body)
	}

	// The same address again: 200, same id, no second email. A waitlisted
	// registration after it is the marker that the queue moved past it.
	code, again := call(t, "POST", web.addr+"/v1/meetings/odt-2026/registrations", "", `{"name":"Ada","email":"ADA@example.org"}`)
	if code != http.StatusOK || again["id"] != id {
		t.Fatalf("repeat: %d %v", code, again)
	}
	code, second := call(t, "POST", web.addr+"/v1/meetings/odt-2026/registrations", "", `{"name":"Grace Hopper","email":"grace@example.org"}`)
	if code != http.StatusCreated || second["status"] != "waitlisted" {
		t.Fatalf("second: %d %v", code, second)
	}
	msgs := s.sink.WaitCount(t, 2, 20*time.Second)
	if len(msgs) != 2 || msgs[1].Header("X-Convene-Kind") != "waitlisted" {
		t.Fatalf("after the repeat and a waitlisted registration the sink holds %d messages", len(msgs))
	}

	code, m := call(t, "GET", web.addr+"/v1/meetings/odt-2026", organiser, "")
	counts, _ := m["counts"].(map[string]any)
	if code != 200 || counts["confirmed"] != float64(1) || counts["waitlisted"] != float64(1) {
		t.Fatalf("meeting: %d %v", code, m)
	}
	if code, _ := call(t, "GET", web.addr+"/readyz", "", ""); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	if exit := web.stop(15 * time.Second); exit != 0 {
		t.Fatalf("web exit code %d after SIGTERM", exit)
	}
}

func TestWebDyingBeforeEnqueueStillSendsOnce(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	setup := s.start(t, "web")
	createMeeting(t, setup, "m1", 0)
	setup.stop(15 * time.Second)

	// This web process exits right after storing, before enqueueing.
	web := s.start(t, "web", "CONVENE_FAULT=exit-after-store")
	req, _ := http.NewRequest("POST", web.addr+"/v1/meetings/m1/registrations", strings.NewReader(`{"name":"Ada","email":"ada@example.org"}`))
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the faulty web process answered %d", res.StatusCode)
	}
	if code := web.wait(10 * time.Second); code != 3 {
		t.Fatalf("fault hook exit code %d, want 3", code)
	}
	s.start(t, "worker", "SWEEP_INTERVAL=1s")
	s.start(t, "scheduler", "SWEEP_INTERVAL=1s")
	msg := s.sink.WaitCount(t, 1, 30*time.Second)[0]
	if msg.Header("X-Convene-Kind") != "confirmation" {
		t.Fatalf("kind %q", msg.Header("X-Convene-Kind"))
	}
	// Several sweeps later there is still exactly one.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && s.sink.Count() == 1 {
		time.Sleep(100 * time.Millisecond) // observing that nothing more arrives
	}
	if n := s.sink.Count(); n != 1 {
		t.Fatalf("%d emails after the sweep, want 1", n)
	}
}

func TestBadConfigExitsTwoWithOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode string
		env  []string
		want string
	}{
		{"web", []string{"PORT=eighty"}, "PORT"},
		{"worker", []string{"MAIL_FROM=a@example.org"}, "MAIL_URL"},
		{"web", []string{"REDIS_URL=http://localhost"}, "REDIS_URL"},
	} {
		p := launch(t, tc.mode, tc.env...)
		if code := p.wait(10 * time.Second); code != 2 {
			t.Errorf("%s %v: exit %d, want 2", tc.mode, tc.env, code)
		}
		out := strings.TrimSpace(p.output())
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s %v: output %q, want one line naming %s", tc.mode, tc.env, out, tc.want)
		}
	}
}

func TestDevRunsEverythingInOneProcess(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	dev := s.start(t, "dev", "SWEEP_INTERVAL=1s")
	createMeeting(t, dev, "m1", 0)
	if code, res := call(t, "POST", dev.addr+"/v1/meetings/m1/registrations", "", `{"name":"Ada","email":"ada@example.org"}`); code != 201 {
		t.Fatalf("register: %d %v", code, res)
	}
	s.sink.WaitCount(t, 1, 20*time.Second)
	if exit := dev.stop(60 * time.Second); exit != 0 {
		t.Fatalf("dev exit code %d", exit)
	}
}

func TestEveryProcessStopsGracefullyOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	for _, mode := range []string{"web", "worker", "scheduler"} {
		p := s.start(t, mode)
		if mode != "web" {
			// wait until it is running: its start is logged
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(p.output(), "started") {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not start:\n%s", mode, p.output())
				}
				time.Sleep(20 * time.Millisecond) // polling interval
			}
		}
		if code := p.stop(20 * time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM", mode, code)
		}
		if !strings.Contains(p.output(), "stopped") {
			t.Fatalf("%s did not log its stop:\n%s", mode, p.output())
		}
	}
}

func TestStartupWarnsWhenRedisBreaksTheGuarantees(t *testing.T) {
	t.Parallel()
	good := newSystem(t)
	p := good.start(t, "web")
	if strings.Contains(p.output(), "breaks Convene's guarantees") {
		t.Fatalf("a warning with AOF and noeviction set:\n%s", p.output())
	}
	r := testredis.Start(t, "--appendonly", "no", "--maxmemory-policy", "allkeys-lru")
	bad := start(t, "web", "REDIS_URL="+r.URL())
	out := bad.output()
	for _, setting := range []string{`"setting":"appendonly"`, `"setting":"maxmemory-policy"`} {
		if strings.Count(out, setting) != 1 {
			t.Fatalf("want one warning for %s:\n%s", setting, out)
		}
	}
}

func TestOpsEndpointsAndMetrics(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web", "OPS_TOKEN=ops-secret")
	worker := s.start(t, "worker", "METRICS_PORT=0")
	createMeeting(t, web, "m1", 0)
	if code, res := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Ada","email":"ada@example.org"}`); code != 201 {
		t.Fatalf("register: %d %v", code, res)
	}
	s.sink.WaitCount(t, 1, 20*time.Second)

	if code, _ := callRaw(t, "GET", web.addr+"/v1/ops/queues", ""); code != 401 {
		t.Fatalf("ops queues without token: %d", code)
	}
	if code, _ := callRaw(t, "GET", web.addr+"/v1/ops/queues", "wrong"); code != 401 {
		t.Fatalf("ops queues with a wrong token: %d", code)
	}
	code, res := call(t, "GET", web.addr+"/v1/ops/queues", "ops-secret", "")
	qs, _ := res["queues"].([]any)
	if code != 200 || len(qs) == 0 {
		t.Fatalf("ops queues: %d %v", code, res)
	}
	critical := qs[0].(map[string]any)
	for _, f := range []string{"name", "size", "pending", "active", "scheduled", "retry", "archived", "completed", "processed", "failed", "latency_ms"} {
		if _, ok := critical[f]; !ok {
			t.Fatalf("queue without %q: %v", f, critical)
		}
	}

	body := httpGet(t, web.addr+"/metrics")
	for _, want := range []string{
		`convene_http_requests_total{route="POST /v1/meetings/{id}/registrations",status="201"} 1`,
		`convene_registrations_total{outcome="created_confirmed"} 1`,
		`convene_queue_tasks{queue="critical",state="pending"}`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("web /metrics lacks %s", want)
		}
	}
	// The worker serves its own metrics on METRICS_PORT.
	addr := ""
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(worker.output(), "\n") {
			if strings.Contains(line, `"msg":"metrics listening"`) {
				i := strings.Index(line, `"addr":"`)
				a := line[i+8:]
				addr = a[:strings.Index(a, `"`)]
			}
		}
	}
	if addr == "" {
		t.Fatalf("the worker did not serve metrics:\n%s", worker.output())
	}
	body = httpGet(t, "http://127.0.0.1:"+addr[strings.LastIndex(addr, ":")+1:]+"/metrics")
	if !strings.Contains(body, `convene_emails_sent_total{kind="confirmation"} 1`) || !strings.Contains(body, `convene_jobs_processed_total{outcome="ok",type="notices:send"}`) {
		t.Fatalf("worker /metrics lacks the email and job counts:\n%s", body)
	}
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}
