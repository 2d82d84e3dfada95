package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene"
	"convene/handlers"
	"convene/internal/pending"
	"convene/internal/testredis"
	"convene/jobs"
	"convene/store"
	"convene/templates"
)

const token = "organiser-secret"

type bundle struct {
	t         *testing.T
	redis     *testredis.Server
	handler   http.Handler
	inspector *asynq.Inspector
	logs      *bytes.Buffer
	store     *store.Store
	signer    *convene.Signer
}

const signingKey = "handlers-test-signing-key-0123456789"

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with the handlers' configuration changed by change,
// which may use the Redis client (for a limiter).
func setupWith(t *testing.T, change func(cfg *handlers.Config, rdb *redis.Client)) *bundle {
	t.Helper()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	client := asynq.NewClientFromRedisClient(rdb)
	logs := &bytes.Buffer{}
	signer, err := convene.NewSigner([]byte(signingKey))
	if err != nil {
		t.Fatal(err)
	}
	pages, err := templates.NewPages()
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	st := store.New(rdb)
	cfg := handlers.Config{
		OrganiserTokens: []string{"other-token", token},
		ReminderOffsets: []convene.Offset{convene.Offset(24 * time.Hour)},
		RequestTimeout:  3 * time.Second,
		Signer:          signer,
		Pages:           pages,
	}
	if change != nil {
		change(&cfg, rdb)
	}
	h := handlers.NewServer(slog.New(slog.NewJSONHandler(logs, nil)), st, jobs.Queue{Enqueuer: client, Tasks: inspector}, cfg)
	return &bundle{t: t, redis: srv, handler: h, inspector: inspector, logs: logs, store: st, signer: signer}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (b *bundle) do(method, path, contentType, body string, auth bool) response {
	b.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		b.t.Fatalf("%s %s: Content-Type %q, want JSON; body %s", method, path, ct, res.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
		b.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, res.raw)
	}
	return res
}

func (b *bundle) json(method, path, body string) response {
	b.t.Helper()
	return b.do(method, path, "application/json", body, true)
}

func (b *bundle) createMeeting(body string) map[string]any {
	b.t.Helper()
	res := b.json("POST", "/v1/meetings", body)
	if res.status != http.StatusCreated {
		b.t.Fatalf("create meeting: %d %s", res.status, res.raw)
	}
	return res.body
}

// pendingEmails counts the participant emails waiting to be sent: email
// tasks in the queue, and registration notices in the notices outbox.
func (b *bundle) pendingEmails() int {
	b.t.Helper()
	tasks, err := b.inspector.ListPendingTasks(jobs.QueueCritical, asynq.PageSize(10000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		b.t.Fatal(err)
	}
	n := 0
	for _, t := range tasks {
		if t.Type == jobs.TypeEmail {
			n++
		}
	}
	return n + len(pending.Notices(b.t, b.store))
}

func future(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }

func TestCreateAndReadMeetings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := b.createMeeting(`{"id":"egm-2026","title":"Expert group","kind":"expert_group_meeting","starts_at":"` + future(72*time.Hour) +
		`","timezone":"Europe/Zurich","capacity":2,"reminders":["168h","15m"],"organisers":["org@example.org"],"location":"Room 1"}`)
	if m["id"] != "egm-2026" || m["status"] != "scheduled" || m["version"] != float64(1) || m["kind"] != "expert_group_meeting" {
		t.Fatalf("created meeting %v", m)
	}
	if rs := m["reminders"].([]any); len(rs) != 2 || rs[0] != "168h" || rs[1] != "15m" {
		t.Fatalf("reminders %v", m["reminders"])
	}
	gen := b.createMeeting(`{"title":"Side event","starts_at":"` + future(time.Hour) + `","timezone":"UTC"}`)
	if id, _ := gen["id"].(string); id == "" || gen["kind"] != "other" {
		t.Fatalf("generated meeting %v", gen)
	}
	if rs := gen["reminders"].([]any); len(rs) != 1 || rs[0] != "24h" {
		t.Fatalf("default reminders %v", gen["reminders"])
	}
	got := b.json("GET", "/v1/meetings/egm-2026", "")
	counts, _ := got.body["counts"].(map[string]any)
	if got.status != 200 || counts == nil || counts["confirmed"] != float64(0) {
		t.Fatalf("get meeting: %d %s", got.status, got.raw)
	}
	list := b.json("GET", "/v1/meetings", "")
	if ms, _ := list.body["meetings"].([]any); list.status != 200 || len(ms) != 2 {
		t.Fatalf("list: %d %s", list.status, list.raw)
	}
	if res := b.json("POST", "/v1/meetings", `{"id":"egm-2026","title":"Again","starts_at":"`+future(time.Hour)+`","timezone":"UTC"}`); res.status != 409 {
		t.Fatalf("taken id: %d %s", res.status, res.raw)
	}
	if res := b.json("GET", "/v1/meetings/nope", ""); res.status != 404 || res.body["error"] == "" {
		t.Fatalf("unknown meeting: %d %s", res.status, res.raw)
	}
}

func TestOrganiserAPIRequiresToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", "Bearer"} {
		req := httptest.NewRequest("GET", "/v1/meetings", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("Authorization %q: %d %s", auth, rec.Code, rec.Body)
		}
	}
}

func TestMeetingValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	starts := future(48 * time.Hour)
	for _, tc := range []struct{ name, body, field string }{
		{"missing title", `{"starts_at":"` + starts + `","timezone":"UTC"}`, "title"},
		{"blank title", `{"title":"  ","starts_at":"` + starts + `","timezone":"UTC"}`, "title"},
		{"title too long", `{"title":"` + strings.Repeat("a", 201) + `","starts_at":"` + starts + `","timezone":"UTC"}`, "title"},
		{"title with CR/LF", `{"title":"A\r\nBcc: x@example.org","starts_at":"` + starts + `","timezone":"UTC"}`, "title"},
		{"bad id", `{"id":"Bad_ID","title":"T","starts_at":"` + starts + `","timezone":"UTC"}`, "id"},
		{"id too long", `{"id":"` + strings.Repeat("a", 65) + `","title":"T","starts_at":"` + starts + `","timezone":"UTC"}`, "id"},
		{"bad kind", `{"title":"T","kind":"party","starts_at":"` + starts + `","timezone":"UTC"}`, "kind"},
		{"missing starts_at", `{"title":"T","timezone":"UTC"}`, "starts_at"},
		{"bad starts_at", `{"title":"T","starts_at":"tomorrow","timezone":"UTC"}`, "starts_at"},
		{"ends before start", `{"title":"T","starts_at":"` + starts + `","ends_at":"2020-01-01T00:00:00Z","timezone":"UTC"}`, "ends_at"},
		{"missing timezone", `{"title":"T","starts_at":"` + starts + `"}`, "timezone"},
		{"unknown timezone", `{"title":"T","starts_at":"` + starts + `","timezone":"Mars/Olympus"}`, "timezone"},
		{"negative capacity", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","capacity":-1}`, "capacity"},
		{"fractional capacity", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","capacity":1.5}`, "capacity"},
		{"string capacity", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","capacity":"10"}`, "capacity"},
		{"bad reminder", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","reminders":["1 day"]}`, "reminders"},
		{"zero reminder", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","reminders":["0s"]}`, "reminders"},
		{"too many reminders", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","reminders":["1h","2h","3h","4h","5h","6h","7h","8h","9h","10h","11h"]}`, "reminders"},
		{"bad organiser", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","organisers":["not an email"]}`, "organisers"},
		{"bad online_url", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","online_url":"javascript:alert(1)"}`, "online_url"},
		{"bad closes_at", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","registration_closes_at":"soon"}`, "registration_closes_at"},
		{"unknown field", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC","start_at":"x"}`, "start_at"},
		{"malformed JSON", `{"title":`, ""},
		{"not an object", `[1,2]`, ""},
		{"two objects", `{"title":"T","starts_at":"` + starts + `","timezone":"UTC"} {}`, ""},
		{"empty body", ``, ""},
	} {
		res := b.json("POST", "/v1/meetings", tc.body)
		if res.status != 400 || res.body["error"] == "" {
			t.Errorf("%s: %d %s, want 400 with an error", tc.name, res.status, res.raw)
			continue
		}
		if tc.field != "" && res.body["field"] != tc.field {
			t.Errorf("%s: field %v, want %q", tc.name, res.body["field"], tc.field)
		}
	}
	if keys := b.redis.Keys(t); len(keys) != 0 {
		t.Fatalf("rejected meetings left keys %v", keys)
	}
}

func TestRegisterStatusCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	reg := func(body string) response {
		return b.do("POST", "/v1/meetings/m1/registrations", "application/json", body, false)
	}
	first := reg(`{"name":"Ada Lovelace","email":"ada@example.org","organisation":"Analytical","language":"fr"}`)
	if first.status != 201 || first.body["status"] != "confirmed" || first.body["id"] == "" || first.body["meeting_id"] != "m1" {
		t.Fatalf("first registration: %d %s", first.status, first.raw)
	}
	again := reg(`{"name":"Someone Else","email":"ADA@Example.org"}`)
	if again.status != 200 || again.body["id"] != first.body["id"] {
		t.Fatalf("same address again: %d %s, want 200 with id %v", again.status, again.raw, first.body["id"])
	}
	if _, leaks := again.body["name"]; leaks {
		t.Fatalf("the 200 answer shows the existing registration's name: %s", again.raw)
	}
	second := reg(`{"name":"Grace","email":"grace@example.org"}`)
	if second.status != 201 || second.body["status"] != "waitlisted" || second.body["position"] != float64(1) {
		t.Fatalf("over capacity: %d %s", second.status, second.raw)
	}
	if n := b.pendingEmails(); n != 2 {
		t.Fatalf("%d emails pending, want 2 (the repeat must not add one)", n)
	}
	if jobs := pending.Tasks(t, b.inspector, jobs.TypeNotices); jobs != 1 {
		t.Fatalf("%d notices jobs queued, want 1: the first registration starts it, the next find it running", jobs)
	}
	if res := b.do("POST", "/v1/meetings/nope/registrations", "application/json", `{"name":"A","email":"a@example.org"}`, false); res.status != 404 {
		t.Fatalf("unknown meeting: %d %s", res.status, res.raw)
	}
	if res := b.do("POST", "/v1/meetings/m1/registrations", "text/plain", `{"name":"A","email":"a@example.org"}`, false); res.status != 415 {
		t.Fatalf("text/plain: %d %s", res.status, res.raw)
	}
	if res := b.do("POST", "/v1/meetings/m1/registrations", "", `{"name":"A","email":"a@example.org"}`, false); res.status != 415 {
		t.Fatalf("no content type: %d %s", res.status, res.raw)
	}
	big := `{"name":"A","email":"a@example.org","organisation":"` + strings.Repeat("x", 70<<10) + `"}`
	if res := reg(big); res.status != 413 {
		t.Fatalf("70 KiB body: %d %s", res.status, res.raw)
	}
	if n := b.pendingEmails(); n != 2 {
		t.Fatalf("%d email jobs after refused requests, want 2", n)
	}
}

func TestRegisterConflicts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"closed","title":"T","starts_at":"` + future(48*time.Hour) + `","registration_closes_at":"` + future(-time.Minute) + `","timezone":"UTC"}`)
	b.createMeeting(`{"id":"started","title":"T","starts_at":"` + future(-time.Minute) + `","timezone":"UTC"}`)
	for _, id := range []string{"closed", "started"} {
		res := b.do("POST", "/v1/meetings/"+id+"/registrations", "application/json", `{"name":"A","email":"a@example.org"}`, false)
		if res.status != 409 || res.body["error"] == "" {
			t.Errorf("%s: %d %s, want 409", id, res.status, res.raw)
		}
	}
	if n := b.pendingEmails(); n != 0 {
		t.Fatalf("%d email jobs for refused registrations", n)
	}
}

func TestRegistrationValidationChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	for _, tc := range []struct{ name, body, field string }{
		{"missing name", `{"email":"a@example.org"}`, "name"},
		{"blank name", `{"name":"   ","email":"a@example.org"}`, "name"},
		{"name with CR/LF", `{"name":"Eve\r\nBcc: victim@example.org","email":"a@example.org"}`, "name"},
		{"name with tab", `{"name":"Eve\tX","email":"a@example.org"}`, "name"},
		{"name too long", `{"name":"` + strings.Repeat("é", 201) + `","email":"a@example.org"}`, "name"},
		{"missing email", `{"name":"A"}`, "email"},
		{"bad email", `{"name":"A","email":"not-an-address"}`, "email"},
		{"email with name", `{"name":"A","email":"A <a@example.org>"}`, "email"},
		{"two emails", `{"name":"A","email":"a@example.org, b@example.org"}`, "email"},
		{"email with CR/LF", `{"name":"A","email":"a@example.org\r\nBcc: b@example.org"}`, "email"},
		{"email too long", `{"name":"A","email":"` + strings.Repeat("a", 250) + `@example.org"}`, "email"},
		{"organisation too long", `{"name":"A","email":"a@example.org","organisation":"` + strings.Repeat("o", 201) + `"}`, "organisation"},
		{"organisation with LF", `{"name":"A","email":"a@example.org","organisation":"X\nY"}`, "organisation"},
		{"bad language", `{"name":"A","email":"a@example.org","language":"de"}`, "language"},
		{"number name", `{"name":42,"email":"a@example.org"}`, "name"},
		{"unknown field", `{"name":"A","email":"a@example.org","admin":true}`, "admin"},
		{"malformed", `{"name":"A",`, ""},
		{"null", `null`, "name"},
	} {
		res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", tc.body, false)
		if res.status != 400 || res.body["error"] == "" {
			t.Errorf("%s: %d %s, want 400", tc.name, res.status, res.raw)
			continue
		}
		if tc.field != "" && res.body["field"] != tc.field {
			t.Errorf("%s: field %v, want %q", tc.name, res.body["field"], tc.field)
		}
	}
	for _, k := range b.redis.Keys(t) {
		if strings.Contains(k, ":r:") || strings.HasSuffix(k, ":e") || strings.HasSuffix(k, ":q") {
			t.Fatalf("a rejected registration left key %s", k)
		}
	}
	if n := b.pendingEmails(); n != 0 {
		t.Fatalf("%d email jobs for rejected registrations", n)
	}
}

func TestRedisDownAnswers503AndReadyzFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	if res := b.do("GET", "/readyz", "", "", false); res.status != 200 {
		t.Fatalf("readyz with Redis up: %d", res.status)
	}
	b.redis.Kill()
	res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", `{"name":"A","email":"a@example.org"}`, false)
	if res.status != 503 || res.header.Get("Retry-After") == "" || res.body["error"] == "" {
		t.Fatalf("register with Redis down: %d %v %s", res.status, res.header, res.raw)
	}
	if res := b.do("GET", "/readyz", "", "", false); res.status != 503 {
		t.Fatalf("readyz with Redis down: %d", res.status)
	}
	if res := b.do("GET", "/healthz", "", "", false); res.status != 200 {
		t.Fatalf("healthz with Redis down: %d", res.status)
	}
	b.redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res = b.do("POST", "/v1/meetings/m1/registrations", "application/json", `{"name":"A","email":"a@example.org"}`, false)
		if res.status == 201 || time.Now().After(deadline) {
			break
		}
	}
	if res.status != 201 {
		t.Fatalf("after Redis restarted: %d %s (the 503 must not have stored it)", res.status, res.raw)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if res := b.do("GET", "/nope", "", "", false); res.status != 404 || res.body["error"] == "" {
		t.Fatalf("unknown path: %d %s", res.status, res.raw)
	}
	res := b.do("DELETE", "/v1/meetings", "", "", false)
	if res.status != 405 || res.body["error"] == "" || !strings.Contains(res.header.Get("Allow"), "POST") {
		t.Fatalf("wrong method: %d %v %s", res.status, res.header, res.raw)
	}
}

func TestRequestsAreLoggedWithRouteAndID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", `{"name":"Ada Secret","email":"ada.secret@example.org"}`, false)
	id := res.header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id")
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(b.logs.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if e["msg"] == "http request" && e["request_id"] == id {
			found = e["route"] == "POST /v1/meetings/{id}/registrations" && e["status"] == float64(201)
		}
	}
	if !found {
		t.Fatalf("no request log with route pattern and status for %s:\n%s", id, b.logs)
	}
	if strings.Contains(b.logs.String(), "ada.secret") || strings.Contains(b.logs.String(), "Ada Secret") {
		t.Fatalf("logs hold personal data:\n%s", b.logs)
	}
}

func TestAClientThatGaveUpIsNotAServerError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/v1/meetings/m1", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Fatalf("status %d, want 499 (client closed request)", rec.Code)
	}
	if strings.Contains(b.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a client that gave up was logged as an error:\n%s", b.logs)
	}
}
