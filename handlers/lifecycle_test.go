package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/internal/pending"
	"convene/jobs"
)

// The meeting lifecycle after creation, through the HTTP API: changes,
// cancellation, extra reminders, the registrations export, erasure,
// resends and the participant's personal link.

// hdr builds request headers from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// orgHdr builds request headers carrying the organiser's bearer token,
// plus the given name, value pairs.
func orgHdr(kv ...string) http.Header {
	h := hdr(kv...)
	h.Set("Authorization", "Bearer "+token)
	return h
}

// serveRaw sends a request straight to the handler, for the answers b.do
// does not take: 204 without a body, CSV, HTML pages.
func (b *bundle) serveRaw(method, path string, header http.Header, body string) *httptest.ResponseRecorder {
	b.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

// mustRegister registers a participant through the public intake, expects
// 201 with status want, and returns the registration's id.
func (b *bundle) mustRegister(meetingID, name, email, want string) string {
	b.t.Helper()
	body, err := json.Marshal(map[string]string{"name": name, "email": email})
	if err != nil {
		b.t.Fatal(err)
	}
	res := b.do("POST", "/v1/meetings/"+meetingID+"/registrations", "application/json", string(body), false)
	id, _ := res.body["id"].(string)
	if res.status != http.StatusCreated || id == "" || res.body["status"] != want {
		b.t.Fatalf("register %s for %s: %d %s, want 201 %s", email, meetingID, res.status, res.raw, want)
	}
	return id
}

// registrationsOf lists a meeting's registrations through the organiser API.
func (b *bundle) registrationsOf(meetingID string) []map[string]any {
	b.t.Helper()
	res := b.json("GET", "/v1/meetings/"+meetingID+"/registrations", "")
	list, ok := res.body["registrations"].([]any)
	if res.status != http.StatusOK || !ok {
		b.t.Fatalf("list registrations of %s: %d %s", meetingID, res.status, res.raw)
	}
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		reg, ok := v.(map[string]any)
		if !ok {
			b.t.Fatalf("registration %v is not an object", v)
		}
		out = append(out, reg)
	}
	return out
}

// statusesOf maps each registration id of a meeting to its status.
func (b *bundle) statusesOf(meetingID string) map[string]string {
	b.t.Helper()
	out := map[string]string{}
	for _, reg := range b.registrationsOf(meetingID) {
		out[reg["id"].(string)], _ = reg["status"].(string)
	}
	return out
}

// meetingOf reads a meeting through the organiser API (200).
func (b *bundle) meetingOf(id string) response {
	b.t.Helper()
	res := b.json("GET", "/v1/meetings/"+id, "")
	if res.status != http.StatusOK {
		b.t.Fatalf("get meeting %s: %d %s", id, res.status, res.raw)
	}
	return res
}

// countsOf returns a meeting's counts as GET /v1/meetings/{id} shows them.
func (b *bundle) countsOf(id string) convene.Counts {
	b.t.Helper()
	var m struct {
		Counts *convene.Counts `json:"counts"`
	}
	res := b.meetingOf(id)
	if err := json.Unmarshal([]byte(res.raw), &m); err != nil || m.Counts == nil {
		b.t.Fatalf("meeting %s has no counts: %v %s", id, err, res.raw)
	}
	return *m.Counts
}

// pendingTaskIDs lists the TaskIDs of the pending tasks of type typ in the
// critical queue, where every job of the API goes.
func (b *bundle) pendingTaskIDs(typ string) []string {
	b.t.Helper()
	tasks, err := b.inspector.ListPendingTasks(jobs.QueueCritical, asynq.PageSize(10000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		b.t.Fatal(err)
	}
	var ids []string
	for _, task := range tasks {
		if task.Type == typ {
			ids = append(ids, task.ID)
		}
	}
	if typ == jobs.TypeEmail {
		// Registration notices wait in the notices outbox for a notices
		// job; each would get this task if it had one of its own.
		for _, msg := range pending.Notices(b.t, b.store) {
			ids = append(ids, jobs.EmailTaskID(msg))
		}
	}
	slices.Sort(ids)
	return ids
}

// emailTaskID is the TaskID of the email task of one message.
func emailTaskID(meetingID, registrationID, kind, variant string) string {
	return jobs.EmailTaskID(convene.Message{MeetingID: meetingID, RegistrationID: registrationID, Kind: kind, Variant: variant})
}

// redisDump reads every key of the test's Redis, asynq's included, each by
// its type, and returns "key => values" lines: what a check that personal
// data is gone has to search.
func (b *bundle) redisDump(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	c := b.redis.Client(t)
	var sb strings.Builder
	for _, k := range b.redis.Keys(t) {
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var vals []string
		switch typ {
		case "string":
			v, err := c.Get(ctx, k).Result()
			if err != nil {
				t.Fatalf("GET %s: %v", k, err)
			}
			vals = []string{v}
		case "hash":
			h, err := c.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("HGETALL %s: %v", k, err)
			}
			for f, v := range h {
				vals = append(vals, f, v)
			}
		case "zset":
			vals, err = c.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatalf("ZRANGE %s: %v", k, err)
			}
		case "list":
			vals, err = c.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatalf("LRANGE %s: %v", k, err)
			}
		case "set":
			vals, err = c.SMembers(ctx, k).Result()
			if err != nil {
				t.Fatalf("SMEMBERS %s: %v", k, err)
			}
		case "none":
			continue // expired between KEYS and TYPE
		default:
			t.Fatalf("key %s has type %s, which this scan does not read", k, typ)
		}
		fmt.Fprintf(&sb, "%s => %s\n", k, strings.Join(vals, " | "))
	}
	return sb.String()
}

// wantError checks a JSON error answer: its status, a non-empty "error",
// and the field at fault when field is not empty.
func wantError(t *testing.T, what string, res response, status int, field string) {
	t.Helper()
	msg, _ := res.body["error"].(string)
	switch {
	case res.status != status:
		t.Errorf("%s: %d %s, want %d", what, res.status, res.raw, status)
	case msg == "":
		t.Errorf("%s: no \"error\" in %s", what, res.raw)
	case field != "" && res.body["field"] != field:
		t.Errorf("%s: field %v, want %q (%s)", what, res.body["field"], field, res.raw)
	}
}

// wantHTMLPage checks a participant page: status, HTML, and the headers
// that keep its secret URL out of caches and referrers.
func wantHTMLPage(t *testing.T, what string, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", what, ct)
	}
	if !strings.Contains(strings.ToLower(rec.Body.String()), "<html") {
		t.Errorf("%s: not an HTML page: %s", what, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	if rp := rec.Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q, want no-referrer", what, rp)
	}
}

// --- PATCH /v1/meetings/{id} ---

func TestUpdateMeetingRaisesVersionOnlyWhenTimeOrPlaceChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name  string
		patch string
		want  map[string]any // fields of the answer after the change
		moved bool
	}{
		{"a title alone keeps the version", `{"title":"New title"}`, map[string]any{"title": "New title"}, false},
		{"kind, capacity, organisers and reminders keep the version",
			`{"kind":"training","capacity":5,"organisers":["chair@example.org"],"reminders":["2h"]}`,
			map[string]any{"kind": "training", "capacity": float64(5), "organisers": []any{"chair@example.org"}, "reminders": []any{"2h"}}, false},
		{"a timezone alone keeps the version", `{"timezone":"Asia/Tokyo"}`, map[string]any{"timezone": "Asia/Tokyo"}, false},
		{"the same start keeps the version", `{"starts_at":"` + at(0) + `"}`, map[string]any{"starts_at": at(0)}, false},
		{"the same start in another offset keeps the version", `{"starts_at":"` + start.In(zurich).Format(time.RFC3339) + `"}`, map[string]any{"starts_at": at(0)}, false},
		{"the same location keeps the version", `{"location":"Room 1"}`, map[string]any{"location": "Room 1"}, false},
		{"a new start raises it", `{"starts_at":"` + at(time.Hour) + `"}`, map[string]any{"starts_at": at(time.Hour)}, true},
		{"a new end raises it", `{"ends_at":"` + at(3*time.Hour) + `"}`, map[string]any{"ends_at": at(3 * time.Hour)}, true},
		{"removing the end raises it", `{"ends_at":""}`, map[string]any{"ends_at": nil}, true},
		{"a new location raises it", `{"location":"Room 2"}`, map[string]any{"location": "Room 2"}, true},
		{"a new online link raises it", `{"online_url":"https://meet.example.org/egm"}`, map[string]any{"online_url": "https://meet.example.org/egm"}, true},
		{"time and place together raise it by one", `{"starts_at":"` + at(24*time.Hour) + `","ends_at":"` + at(26*time.Hour) + `","location":"Room 3"}`,
			map[string]any{"starts_at": at(24 * time.Hour), "ends_at": at(26 * time.Hour), "location": "Room 3"}, true},
	} {
		id := fmt.Sprintf("v%d", i)
		b.createMeeting(`{"id":"` + id + `","title":"T","starts_at":"` + at(0) + `","ends_at":"` + at(2*time.Hour) +
			`","timezone":"Europe/Zurich","location":"Room 1","capacity":10}`)
		res := b.json("PATCH", "/v1/meetings/"+id, tc.patch)
		if res.status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", tc.name, res.status, res.raw)
			continue
		}
		wantVersion := float64(1)
		if tc.moved {
			wantVersion = 2
		}
		if res.body["version"] != wantVersion || res.body["id"] != id || res.body["status"] != "scheduled" {
			t.Errorf("%s: answered %s, want version %v", tc.name, res.raw, wantVersion)
		}
		for k, v := range tc.want {
			if !reflect.DeepEqual(res.body[k], v) {
				t.Errorf("%s: %s is %#v, want %#v", tc.name, k, res.body[k], v)
			}
		}
		if _, ok := res.body["counts"].(map[string]any); !ok {
			t.Errorf("%s: the answer has no counts: %s", tc.name, res.raw)
		}
		if got := b.meetingOf(id); !reflect.DeepEqual(got.body, res.body) {
			t.Errorf("%s: GET shows %s, PATCH answered %s", tc.name, got.raw, res.raw)
		}
		// A move tells the confirmed participants (one "updated" fan-out
		// for the new version) and reschedules the reminders.
		updates := b.pendingTaskIDs(jobs.TypeFanout)
		wantUpdate := jobs.FanoutTaskID(convene.Fanout{MeetingID: id, Kind: convene.EmailUpdated, Variant: convene.UpdateVariant(2)})
		if got := slices.Contains(updates, wantUpdate); got != tc.moved {
			t.Errorf("%s: update fan-out queued %v, want %v (fan-outs %v)", tc.name, got, tc.moved, updates)
		}
		rescheduled := slices.ContainsFunc(b.pendingTaskIDs(jobs.TypeSchedule), func(s string) bool { return strings.HasPrefix(s, "schedule:"+id+":v2:") })
		if rescheduled != tc.moved {
			t.Errorf("%s: reminders of version 2 scheduled %v, want %v", tc.name, rescheduled, tc.moved)
		}
	}

	// Each move counts: a second one makes version 3.
	b.createMeeting(`{"id":"twice","title":"T","starts_at":"` + at(0) + `","timezone":"UTC"}`)
	for n, loc := range []string{"Room A", "Room B"} {
		res := b.json("PATCH", "/v1/meetings/twice", `{"location":"`+loc+`"}`)
		if res.status != http.StatusOK || res.body["version"] != float64(n+2) {
			t.Fatalf("move %d: %d %s, want version %d", n+1, res.status, res.raw, n+2)
		}
	}
}

func TestUpdateMeetingRejectsInvalidChangesAndKeepsTheMeeting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + at(0) + `","ends_at":"` + at(2*time.Hour) +
		`","timezone":"Europe/Zurich","location":"Room 1","capacity":2}`)
	before := b.meetingOf("m1")
	fanouts, schedules := b.pendingTaskIDs(jobs.TypeFanout), b.pendingTaskIDs(jobs.TypeSchedule)

	for _, tc := range []struct{ name, body, field string }{
		{"another id", `{"id":"m2"}`, "id"},
		{"another id with a valid title", `{"id":"other","title":"Renamed"}`, "id"},
		{"bad starts_at", `{"starts_at":"tomorrow"}`, "starts_at"},
		{"starts_at without zone", `{"starts_at":"2030-01-01T09:00:00"}`, "starts_at"},
		{"empty starts_at", `{"starts_at":""}`, "starts_at"},
		{"ends_at before starts_at", `{"ends_at":"2020-01-01T00:00:00Z"}`, "ends_at"},
		{"ends_at equal to starts_at", `{"ends_at":"` + at(0) + `"}`, "ends_at"},
		{"starts_at after the current ends_at", `{"starts_at":"` + at(3*time.Hour) + `"}`, "ends_at"},
		{"unknown timezone", `{"timezone":"Mars/Olympus"}`, "timezone"},
		{"empty timezone", `{"timezone":""}`, "timezone"},
		{"Local timezone", `{"timezone":"Local"}`, "timezone"},
		{"title with CR/LF", `{"title":"A\r\nBcc: x@example.org"}`, "title"},
		{"blank title", `{"title":"   "}`, "title"},
		{"title too long", `{"title":"` + strings.Repeat("a", 201) + `"}`, "title"},
		{"location with LF", `{"location":"Room\n2"}`, "location"},
		{"bad kind", `{"kind":"party"}`, "kind"},
		{"negative capacity", `{"capacity":-1}`, "capacity"},
		{"string capacity", `{"capacity":"10"}`, "capacity"},
		{"bad reminder", `{"reminders":["1 day"]}`, "reminders"},
		{"too many reminders", `{"reminders":["1h","2h","3h","4h","5h","6h","7h","8h","9h","10h","11h"]}`, "reminders"},
		{"bad organiser", `{"organisers":["not an email"]}`, "organisers"},
		{"bad online_url", `{"online_url":"javascript:alert(1)"}`, "online_url"},
		{"bad registration_closes_at", `{"registration_closes_at":"soon"}`, "registration_closes_at"},
		{"a valid title with a bad timezone", `{"title":"Renamed","timezone":"Nowhere/Town"}`, "timezone"},
		{"a valid start with a bad end", `{"starts_at":"` + at(time.Hour) + `","ends_at":"yesterday"}`, "ends_at"},
		{"unknown field", `{"start_at":"` + at(time.Hour) + `"}`, "start_at"},
		{"malformed JSON", `{"title":`, ""},
		{"not an object", `["title"]`, ""},
		{"two objects", `{"title":"A"} {"title":"B"}`, ""},
		{"empty body", ``, ""},
	} {
		wantError(t, tc.name, b.json("PATCH", "/v1/meetings/m1", tc.body), http.StatusBadRequest, tc.field)
	}
	wantError(t, "text/plain", b.do("PATCH", "/v1/meetings/m1", "text/plain", `{"title":"Renamed"}`, true), http.StatusUnsupportedMediaType, "")

	if after := b.meetingOf("m1"); !reflect.DeepEqual(after.body, before.body) {
		t.Errorf("rejected changes changed the meeting:\nbefore %s\nafter  %s", before.raw, after.raw)
	}
	if got := b.pendingTaskIDs(jobs.TypeFanout); !slices.Equal(got, fanouts) {
		t.Errorf("rejected changes queued fan-outs %v (had %v)", got, fanouts)
	}
	if got := b.pendingTaskIDs(jobs.TypeSchedule); !slices.Equal(got, schedules) {
		t.Errorf("rejected changes queued reminder schedules %v (had %v)", got, schedules)
	}
}

func TestUpdateMeetingStatusCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	b.createMeeting(`{"id":"gone","title":"Cancelled","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	if res := b.json("POST", "/v1/meetings/gone/cancel", ""); res.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}
	cancelled := b.meetingOf("gone")

	wantError(t, "unknown meeting", b.json("PATCH", "/v1/meetings/nope", `{"title":"X"}`), http.StatusNotFound, "")
	wantError(t, "no token", b.do("PATCH", "/v1/meetings/m1", "application/json", `{"title":"X"}`, false), http.StatusUnauthorized, "")
	wantError(t, "cancelled meeting", b.json("PATCH", "/v1/meetings/gone", `{"title":"X"}`), http.StatusConflict, "")
	wantError(t, "moving a cancelled meeting", b.json("PATCH", "/v1/meetings/gone", `{"starts_at":"`+future(96*time.Hour)+`"}`), http.StatusConflict, "")

	if m := b.meetingOf("m1"); m.body["title"] != "Expert group" {
		t.Errorf("a PATCH without a token changed the meeting: %s", m.raw)
	}
	if m := b.meetingOf("gone"); !reflect.DeepEqual(m.body, cancelled.body) {
		t.Errorf("a PATCH of a cancelled meeting changed it:\nbefore %s\nafter  %s", cancelled.raw, m.raw)
	}
}

func TestUpdateMeetingCapacityPromotesWaitlistInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Training","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	first := b.mustRegister("m1", "First", "first@example.org", "confirmed")
	w1 := b.mustRegister("m1", "Waiting One", "w1@example.org", "waitlisted")
	w2 := b.mustRegister("m1", "Waiting Two", "w2@example.org", "waitlisted")
	w3 := b.mustRegister("m1", "Waiting Three", "w3@example.org", "waitlisted")

	res := b.json("PATCH", "/v1/meetings/m1", `{"capacity":3}`)
	if res.status != http.StatusOK || res.body["capacity"] != float64(3) || res.body["version"] != float64(1) {
		t.Fatalf("capacity 3: %d %s", res.status, res.raw)
	}
	counts, _ := res.body["counts"].(map[string]any)
	if counts["confirmed"] != float64(3) || counts["waitlisted"] != float64(1) {
		t.Errorf("counts in the answer %v, want 3 confirmed and 1 waitlisted", counts)
	}
	want := map[string]string{first: "confirmed", w1: "confirmed", w2: "confirmed", w3: "waitlisted"}
	if got := b.statusesOf("m1"); !reflect.DeepEqual(got, want) {
		t.Errorf("after capacity 3: %v, want the first two waitlisted promoted: %v", got, want)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 3, Waitlisted: 1}) {
		t.Errorf("counts %+v, want 3 confirmed, 1 waitlisted", got)
	}
	emails := b.pendingTaskIDs(jobs.TypeEmail)
	for _, id := range []string{w1, w2} {
		if !slices.Contains(emails, emailTaskID("m1", id, convene.EmailPromoted, "1")) {
			t.Errorf("no promoted email for %s in %v", id, emails)
		}
	}
	if slices.Contains(emails, emailTaskID("m1", w3, convene.EmailPromoted, "1")) {
		t.Errorf("a promoted email for %s, who is still waitlisted", w3)
	}
	// The last one still waits, now first in line.
	page := b.serveRaw("GET", "/r/"+b.signer.Sign("m1", w3), nil, "")
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "number 1 on the waiting list") {
		t.Errorf("the last waitlisted participant's page: %d, want position 1: %s", page.Code, page.Body)
	}

	// Capacity 0 means unlimited: everyone gets a seat.
	if res := b.json("PATCH", "/v1/meetings/m1", `{"capacity":0}`); res.status != http.StatusOK {
		t.Fatalf("capacity 0: %d %s", res.status, res.raw)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 4}) {
		t.Errorf("counts after capacity 0 %+v, want 4 confirmed", got)
	}
	if got := b.statusesOf("m1")[w3]; got != "confirmed" {
		t.Errorf("after capacity 0 %s is %s, want confirmed", w3, got)
	}
	if emails := b.pendingTaskIDs(jobs.TypeEmail); !slices.Contains(emails, emailTaskID("m1", w3, convene.EmailPromoted, "1")) {
		t.Errorf("no promoted email for %s in %v", w3, emails)
	}
}

// Every move that is answered 200 must count: SPEC §3 "version … +1 on
// every change of time or place", and each move's confirmed participants
// get their own "updated" email for that version. Concurrent PATCHes may
// be refused (409), never silently merged.
func TestConcurrentMovesEachRaiseTheVersion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(72*time.Hour) + `","timezone":"UTC"}`)
	const n = 20
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = b.serveRaw("PATCH", "/v1/meetings/m1", orgHdr("Content-Type", "application/json"), fmt.Sprintf(`{"location":"Room %d"}`, i))
		}()
	}
	wg.Wait()
	moves := 0
	for i, rec := range recs {
		var body map[string]any
		err := json.Unmarshal(rec.Body.Bytes(), &body)
		switch {
		case err != nil:
			t.Errorf("PATCH %d: %d, not JSON: %s", i, rec.Code, rec.Body)
		case rec.Code == http.StatusOK:
			moves++
		case rec.Code == http.StatusConflict && body["error"] != "" && body["error"] != nil:
		default:
			t.Errorf("PATCH %d: %d %s, want 200 or 409", i, rec.Code, rec.Body)
		}
	}
	if got := b.meetingOf("m1").body["version"]; got != float64(1+moves) {
		t.Errorf("%d concurrent moves were answered 200 but the version is %v, want %d: moves were lost", moves, got, 1+moves)
	}
	updates := slices.DeleteFunc(b.pendingTaskIDs(jobs.TypeFanout), func(id string) bool { return !strings.HasPrefix(id, "fanout:m1:updated:") })
	if len(updates) != moves {
		t.Errorf("%d moves answered 200 queued %d distinct update fan-outs, want one each: %v", moves, len(updates), updates)
	}
}

// The same race without goroutines: two web processes run the PATCH
// handler's read-change-write (store.Meeting, Meeting.Update,
// store.UpdateMeeting) on the same state, and their clocks read the same
// millisecond as the change they both read. The second write must be
// refused as concurrent (the handler then re-reads and applies its change
// on top), not stored over the first.
func TestUpdateMeetingRefusesAWriteBasedOnAStaleRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createMeeting(`{"id":"m1","title":"T","starts_at":"` + future(72*time.Hour) + `","timezone":"UTC","location":"Room 0"}`)
	res := b.json("PATCH", "/v1/meetings/m1", `{"location":"Room 1"}`)
	if res.status != http.StatusOK || res.body["version"] != float64(2) {
		t.Fatalf("first move: %d %s", res.status, res.raw)
	}
	readByB, err := b.store.Meeting(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	readByC := readByB
	now := readByB.UpdatedAt // the same millisecond as the last change

	roomB, roomC := "Room B", "Room C"
	toB, movedB, err := readByB.Update(convene.MeetingInput{Location: &roomB}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.UpdateMeeting(ctx, readByB, toB, movedB); err != nil {
		t.Fatalf("B's write: %v", err)
	}
	toC, movedC, err := readByC.Update(convene.MeetingInput{Location: &roomC}, now.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.store.UpdateMeeting(ctx, readByC, toC, movedC)
	if !errors.Is(err, convene.ErrConcurrentUpdate) {
		m := b.meetingOf("m1")
		t.Errorf("C's write, based on the state B changed, answered %v, want ErrConcurrentUpdate; the meeting is now %v version %v: "+
			"B's move to Room B is lost and two different moves share version 3", err, m.body["location"], m.body["version"])
	}
}

// --- POST /v1/meetings/{id}/cancel ---

func TestCancelMeetingOnceAndOnlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Side event","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
	b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
	cancelFanout := jobs.FanoutTaskID(convene.Fanout{MeetingID: "m1", Kind: convene.EmailCancelled, Variant: convene.CancelledMeeting})

	res := b.json("POST", "/v1/meetings/m1/cancel", "")
	if res.status != http.StatusOK || res.body["status"] != "cancelled" || res.body["id"] != "m1" || res.body["version"] != float64(1) {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}
	if got := b.pendingTaskIDs(jobs.TypeFanout); !slices.Equal(got, []string{cancelFanout}) {
		t.Fatalf("fan-outs after cancelling %v, want exactly %s", got, cancelFanout)
	}
	if m := b.meetingOf("m1"); m.body["status"] != "cancelled" {
		t.Errorf("GET after cancelling: %s", m.raw)
	}

	again := b.json("POST", "/v1/meetings/m1/cancel", "")
	if again.status != http.StatusOK || again.body["status"] != "cancelled" {
		t.Fatalf("second cancel: %d %s, want 200", again.status, again.raw)
	}
	if got := b.pendingTaskIDs(jobs.TypeFanout); len(got) != 1 {
		t.Fatalf("fan-outs after cancelling twice %v, want 1", got)
	}
	// Once the worker has run the fan-out its task is gone, and its TaskID
	// no longer holds back a copy: a third cancel must not enqueue one.
	if err := b.inspector.DeleteTask(jobs.QueueCritical, cancelFanout); err != nil {
		t.Fatal(err)
	}
	if res := b.json("POST", "/v1/meetings/m1/cancel", ""); res.status != http.StatusOK || res.body["status"] != "cancelled" {
		t.Fatalf("third cancel: %d %s", res.status, res.raw)
	}
	if got := b.pendingTaskIDs(jobs.TypeFanout); len(got) != 0 {
		t.Errorf("cancelling a cancelled meeting queued %v: a second cancelled email", got)
	}

	emails := b.pendingEmails()
	wantError(t, "register after cancelling", b.do("POST", "/v1/meetings/m1/registrations", "application/json", `{"name":"Late","email":"late@example.org"}`, false), http.StatusConflict, "")
	if n := b.pendingEmails(); n != emails {
		t.Errorf("a refused registration queued an email (%d → %d)", emails, n)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1}) {
		t.Errorf("counts %+v after a refused registration, want 1 confirmed and 1 waitlisted", got)
	}
	if res := b.do("POST", "/v1/meetings/m1/registrations/resend", "application/json", `{"email":"ada@example.org"}`, false); res.status != http.StatusAccepted {
		t.Errorf("resend after cancelling: %d %s, want 202", res.status, res.raw)
	}
	if n := b.pendingEmails(); n != emails {
		t.Errorf("a resend for a cancelled meeting queued an email (%d → %d)", emails, n)
	}
	wantError(t, "unknown meeting", b.json("POST", "/v1/meetings/nope/cancel", ""), http.StatusNotFound, "")
	wantError(t, "no token", b.do("POST", "/v1/meetings/m1/cancel", "", "", false), http.StatusUnauthorized, "")
}

// --- /v1/meetings/{id}/reminders ---

func TestExtraRemindersAreAddedListedAndDeleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }
	b.createMeeting(`{"id":"m1","title":"Webinar","starts_at":"` + at(0) + `","timezone":"UTC"}`)
	if res := b.json("GET", "/v1/meetings/m1/reminders", ""); res.status != http.StatusOK || !reflect.DeepEqual(res.body["reminders"], []any{}) {
		t.Fatalf("no reminders yet: %d %s, want {\"reminders\": []}", res.status, res.raw)
	}

	longMessage := strings.Repeat("é", convene.MaxReminderMessageLen)
	ids := map[string]string{}
	for _, tc := range []struct {
		name, body string
		due        time.Time
		before     any // the answer's "before"
		subject    string
		message    string
	}{
		{"send_at", `{"send_at":"` + at(-5*time.Hour) + `"}`, start.Add(-5 * time.Hour), nil, "", ""},
		{"before", `{"before":"2h"}`, start.Add(-2 * time.Hour), "2h", "", ""},
		{"before with subject and message", `{"before":"90m","subject":"  Bring your badge ","message":"Line one\r\nLine two"}`,
			start.Add(-90 * time.Minute), "1h30m", "Bring your badge", "Line one\nLine two"},
		{"send_at with a message of the longest length", `{"send_at":"` + at(-time.Hour) + `","message":"` + longMessage + `"}`,
			start.Add(-time.Hour), nil, "", longMessage},
	} {
		res := b.json("POST", "/v1/meetings/m1/reminders", tc.body)
		id, _ := res.body["id"].(string)
		if res.status != http.StatusCreated || id == "" {
			t.Errorf("%s: %d %s, want 201", tc.name, res.status, res.raw)
			continue
		}
		ids[tc.name] = id
		if loc := res.header.Get("Location"); loc != "/v1/meetings/m1/reminders/"+id {
			t.Errorf("%s: Location %q", tc.name, loc)
		}
		if due, err := time.Parse(time.RFC3339, fmt.Sprint(res.body["due_at"])); err != nil || !due.Equal(tc.due) {
			t.Errorf("%s: due_at %v, want %s", tc.name, res.body["due_at"], tc.due.Format(time.RFC3339))
		}
		if res.body["before"] != tc.before || res.body["subject"] != tc.subject || res.body["message"] != tc.message {
			t.Errorf("%s: answered before %v, subject %q, message %.40q…; want %v, %q, %.40q…",
				tc.name, res.body["before"], res.body["subject"], res.body["message"], tc.before, tc.subject, tc.message)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("created %d reminders, want 4", len(ids))
	}

	type listed struct {
		ID    string    `json:"id"`
		DueAt time.Time `json:"due_at"`
	}
	list := func() []listed {
		t.Helper()
		res := b.json("GET", "/v1/meetings/m1/reminders", "")
		var body struct {
			Reminders []listed `json:"reminders"`
		}
		if err := json.Unmarshal([]byte(res.raw), &body); res.status != http.StatusOK || err != nil {
			t.Fatalf("list reminders: %d %v %s", res.status, err, res.raw)
		}
		return body.Reminders
	}
	got := list()
	want := []listed{
		{ids["send_at"], start.Add(-5 * time.Hour)},
		{ids["before"], start.Add(-2 * time.Hour)},
		{ids["before with subject and message"], start.Add(-90 * time.Minute)},
		{ids["send_at with a message of the longest length"], start.Add(-time.Hour)},
	}
	if len(got) != len(want) {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || !got[i].DueAt.Equal(want[i].DueAt) {
			t.Errorf("reminder %d listed as %+v, want %+v (in order of due_at)", i, got[i], want[i])
		}
	}

	// A "before" reminder moves with the meeting; a "send_at" one stays.
	if res := b.json("PATCH", "/v1/meetings/m1", `{"starts_at":"`+at(time.Hour)+`"}`); res.status != http.StatusOK {
		t.Fatalf("move: %d %s", res.status, res.raw)
	}
	for _, r := range list() {
		switch r.ID {
		case ids["before"]:
			if !r.DueAt.Equal(start.Add(-time.Hour)) {
				t.Errorf("the 2h reminder is due %s after the move, want %s", r.DueAt, start.Add(-time.Hour))
			}
		case ids["send_at"]:
			if !r.DueAt.Equal(start.Add(-5 * time.Hour)) {
				t.Errorf("the send_at reminder is due %s after the move, want %s", r.DueAt, start.Add(-5*time.Hour))
			}
		}
	}

	del := ids["before"]
	rec := b.serveRaw("DELETE", "/v1/meetings/m1/reminders/"+del, orgHdr(), "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %q, want 204 without a body", rec.Code, rec.Body)
	}
	for _, r := range list() {
		if r.ID == del {
			t.Errorf("deleted reminder %s is still listed", del)
		}
	}
	if n := len(list()); n != 3 {
		t.Errorf("%d reminders after deleting one, want 3", n)
	}
	wantError(t, "delete again", b.json("DELETE", "/v1/meetings/m1/reminders/"+del, ""), http.StatusNotFound, "")
	wantError(t, "delete unknown reminder", b.json("DELETE", "/v1/meetings/m1/reminders/x-nope", ""), http.StatusNotFound, "")
	wantError(t, "delete in unknown meeting", b.json("DELETE", "/v1/meetings/nope/reminders/"+ids["send_at"], ""), http.StatusNotFound, "")
	wantError(t, "delete without token", b.do("DELETE", "/v1/meetings/m1/reminders/"+ids["send_at"], "", "", false), http.StatusUnauthorized, "")
	wantError(t, "list unknown meeting", b.json("GET", "/v1/meetings/nope/reminders", ""), http.StatusNotFound, "")
	wantError(t, "list without token", b.do("GET", "/v1/meetings/m1/reminders", "", "", false), http.StatusUnauthorized, "")
	if n := len(list()); n != 3 {
		t.Errorf("%d reminders after refused deletes, want 3", n)
	}
}

func TestExtraReminderValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }
	b.createMeeting(`{"id":"m1","title":"Webinar","starts_at":"` + at(0) + `","timezone":"UTC"}`)
	b.createMeeting(`{"id":"gone","title":"Cancelled","starts_at":"` + at(0) + `","timezone":"UTC"}`)
	if res := b.json("POST", "/v1/meetings/gone/cancel", ""); res.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}
	schedules := b.pendingTaskIDs(jobs.TypeSchedule)

	for _, tc := range []struct{ name, body, field string }{
		{"both send_at and before", `{"send_at":"` + at(-time.Hour) + `","before":"2h"}`, "send_at"},
		{"neither send_at nor before", `{}`, "send_at"},
		{"a message without a time", `{"message":"Hello"}`, "send_at"},
		{"bad duration", `{"before":"2 hours"}`, "before"},
		{"zero duration", `{"before":"0s"}`, "before"},
		{"negative duration", `{"before":"-1h"}`, "before"},
		{"duration as a number", `{"before":7200}`, "before"},
		{"before further back than now", `{"before":"72h"}`, "before"},
		{"bad send_at", `{"send_at":"tomorrow"}`, "send_at"},
		{"send_at in the past", `{"send_at":"` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`, "send_at"},
		{"send_at at the start", `{"send_at":"` + at(0) + `"}`, "send_at"},
		{"send_at after the start", `{"send_at":"` + at(time.Hour) + `"}`, "send_at"},
		{"subject with CR/LF", `{"before":"2h","subject":"Hi\r\nBcc: x@example.org"}`, "subject"},
		{"subject with LF", `{"before":"2h","subject":"Hi\nthere"}`, "subject"},
		{"subject too long", `{"before":"2h","subject":"` + strings.Repeat("s", convene.MaxReminderSubjectLen+1) + `"}`, "subject"},
		{"message over 5000 chars", `{"before":"2h","message":"` + strings.Repeat("m", convene.MaxReminderMessageLen+1) + `"}`, "message"},
		{"message with a control character", `{"before":"2h","message":"ring \u0007"}`, "message"},
		{"unknown field", `{"before":"2h","body":"x"}`, "body"},
		{"malformed JSON", `{"before":`, ""},
		{"empty body", ``, ""},
	} {
		wantError(t, tc.name, b.json("POST", "/v1/meetings/m1/reminders", tc.body), http.StatusBadRequest, tc.field)
	}
	wantError(t, "text/plain", b.do("POST", "/v1/meetings/m1/reminders", "text/plain", `{"before":"2h"}`, true), http.StatusUnsupportedMediaType, "")
	wantError(t, "unknown meeting", b.json("POST", "/v1/meetings/nope/reminders", `{"before":"2h"}`), http.StatusNotFound, "")
	wantError(t, "cancelled meeting", b.json("POST", "/v1/meetings/gone/reminders", `{"before":"2h"}`), http.StatusConflict, "")
	wantError(t, "no token", b.do("POST", "/v1/meetings/m1/reminders", "application/json", `{"before":"2h"}`, false), http.StatusUnauthorized, "")

	for _, id := range []string{"m1", "gone"} {
		if res := b.json("GET", "/v1/meetings/"+id+"/reminders", ""); res.status != http.StatusOK || !reflect.DeepEqual(res.body["reminders"], []any{}) {
			t.Errorf("reminders of %s after refused additions: %d %s, want none", id, res.status, res.raw)
		}
	}
	if got := b.pendingTaskIDs(jobs.TypeSchedule); !slices.Equal(got, schedules) {
		t.Errorf("refused reminders queued schedules %v (had %v)", got, schedules)
	}
}

// --- GET /v1/meetings/{id}/registrations ---

func TestListRegistrationsAsJSONAndCSV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	b.createMeeting(`{"id":"empty","title":"Nobody yet","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	people := []struct{ name, email, organisation, language, status string }{
		{"Ada Lovelace", "Ada@Example.org", "Analytical Engines", "fr", "confirmed"},
		{`=HYPERLINK("http://evil.example/","click")`, "eve@example.org", "@SUM(A1)", "en", "waitlisted"},
		{"Grace Hopper", "grace@example.org", "-Navy", "es", "waitlisted"},
		{"+Plus Sign", "plus@example.org", "+41 Org", "zh", "waitlisted"},
	}
	var ids []string
	for _, p := range people {
		body, _ := json.Marshal(map[string]string{"name": p.name, "email": p.email, "organisation": p.organisation, "language": p.language})
		res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", string(body), false)
		if res.status != http.StatusCreated || res.body["status"] != p.status {
			t.Fatalf("register %s: %d %s", p.email, res.status, res.raw)
		}
		ids = append(ids, res.body["id"].(string))
	}

	regs := b.registrationsOf("m1")
	if len(regs) != len(people) {
		t.Fatalf("listed %d registrations, want %d", len(regs), len(people))
	}
	for i, p := range people {
		r := regs[i]
		want := map[string]any{"id": ids[i], "name": p.name, "email": p.email, "organisation": p.organisation,
			"language": p.language, "status": p.status, "email_status": "pending"}
		for k, v := range want {
			if r[k] != v {
				t.Errorf("registration %d: %s is %v, want %v (in registration order)", i, k, r[k], v)
			}
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(r["created_at"])); err != nil {
			t.Errorf("registration %d: created_at %v: %v", i, r["created_at"], err)
		}
	}
	if res := b.json("GET", "/v1/meetings/empty/registrations", ""); res.status != http.StatusOK || !reflect.DeepEqual(res.body["registrations"], []any{}) {
		t.Errorf("no registrations: %d %s, want {\"registrations\": []}", res.status, res.raw)
	}

	for _, accept := range []string{"text/csv", "application/json;q=0.5, text/csv"} {
		rec := b.serveRaw("GET", "/v1/meetings/m1/registrations", orgHdr("Accept", accept), "")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("Accept %q: %d %q %s", accept, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatalf("Accept %q: not CSV: %v", accept, err)
		}
		header := []string{"id", "name", "email", "organisation", "language", "status", "email_status", "created_at"}
		if len(rows) != len(people)+1 || !slices.Equal(rows[0], header) {
			t.Fatalf("Accept %q: rows %q, want header %q and %d rows", accept, rows, header, len(people))
		}
		for i, p := range people {
			row := rows[i+1]
			want := []string{ids[i], defused(p.name), p.email, defused(p.organisation), p.language, p.status, "pending"}
			if !slices.Equal(row[:7], want) {
				t.Errorf("Accept %q: row %d %q, want %q", accept, i+1, row[:7], want)
			}
			if _, err := time.Parse(time.RFC3339, row[7]); err != nil {
				t.Errorf("Accept %q: row %d created_at %q: %v", accept, i+1, row[7], err)
			}
		}
		if row := rows[2]; !strings.HasPrefix(row[1], "'=") || !strings.HasPrefix(row[3], "'@") {
			t.Errorf("Accept %q: formula cells not defused: %q", accept, row)
		}
	}
	rec := b.serveRaw("GET", "/v1/meetings/empty/registrations", orgHdr("Accept", "text/csv"), "")
	if rows, err := csv.NewReader(rec.Body).ReadAll(); rec.Code != http.StatusOK || err != nil || len(rows) != 1 {
		t.Errorf("CSV of no registrations: %d %v %q, want the header row alone", rec.Code, err, rows)
	}

	wantError(t, "no token", b.do("GET", "/v1/meetings/m1/registrations", "", "", false), http.StatusUnauthorized, "")
	wantError(t, "unknown meeting", b.json("GET", "/v1/meetings/nope/registrations", ""), http.StatusNotFound, "")
	for _, path := range []string{"/v1/meetings/m1/registrations", "/v1/meetings/nope/registrations"} {
		h := hdr("Accept", "text/csv")
		want := http.StatusUnauthorized
		if path == "/v1/meetings/nope/registrations" {
			h = orgHdr("Accept", "text/csv")
			want = http.StatusNotFound
		}
		rec := b.serveRaw("GET", path, h, "")
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != want || err != nil || body["error"] == "" || body["error"] == nil {
			t.Errorf("CSV request to %s: %d %s, want %d with a JSON error", path, rec.Code, rec.Body, want)
		}
	}
}

// defused is how the CSV export writes a cell a spreadsheet would run as
// a formula.
func defused(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// --- DELETE /v1/meetings/{id}/registrations/{registration_id} ---

func TestEraseRegistrationLeavesNoPersonalDataAndFreesTheSeat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	const name, email = "Ada Erasable", "Ada.Erasable@Example.org"
	body, _ := json.Marshal(map[string]string{"name": name, "email": email, "organisation": "Erasable Institute"})
	res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", string(body), false)
	if res.status != http.StatusCreated || res.body["status"] != "confirmed" {
		t.Fatalf("register: %d %s", res.status, res.raw)
	}
	ada := res.body["id"].(string)
	grace := b.mustRegister("m1", "Grace Waiting", "grace@example.org", "waitlisted")
	hedy := b.mustRegister("m1", "Hedy Waiting", "hedy@example.org", "waitlisted")
	// A resend leaves its own traces (a lock key, a second email task).
	if res := b.do("POST", "/v1/meetings/m1/registrations/resend", "application/json", `{"email":"ada.erasable@example.org"}`, false); res.status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", res.status, res.raw)
	}
	traces := []string{name, strings.ToLower(email), "Ada.Erasable", "Erasable Institute"}
	dump := strings.ToLower(b.redisDump(t))
	for _, s := range []string{name, email} {
		if !strings.Contains(dump, strings.ToLower(s)) {
			t.Fatalf("the scan does not find %q before the erasure, so it cannot prove it gone:\n%s", s, dump)
		}
	}

	rec := b.serveRaw("DELETE", "/v1/meetings/m1/registrations/"+ada, orgHdr(), "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("erase: %d %q, want 204 without a body", rec.Code, rec.Body)
	}
	dump = b.redisDump(t)
	for _, s := range traces {
		if strings.Contains(strings.ToLower(dump), strings.ToLower(s)) {
			for _, line := range strings.Split(dump, "\n") {
				if strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
					t.Errorf("after erasure Redis still holds %q: %s", s, line)
				}
			}
		}
	}

	for _, s := range traces {
		if strings.Contains(strings.ToLower(b.logs.String()), strings.ToLower(s)) {
			t.Errorf("the logs hold %q:\n%s", s, b.logs)
		}
	}

	// The freed seat goes to the first in line.
	want := map[string]string{grace: "confirmed", hedy: "waitlisted"}
	if got := b.statusesOf("m1"); !reflect.DeepEqual(got, want) {
		t.Errorf("after erasure: %v, want %v", got, want)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1}) {
		t.Errorf("counts after erasure %+v, want 1 confirmed, 1 waitlisted", got)
	}
	if emails := b.pendingTaskIDs(jobs.TypeEmail); !slices.Contains(emails, emailTaskID("m1", grace, convene.EmailPromoted, "1")) {
		t.Errorf("no promoted email for %s in %v", grace, emails)
	}

	wantError(t, "erase again", b.json("DELETE", "/v1/meetings/m1/registrations/"+ada, ""), http.StatusNotFound, "")
	wantError(t, "erase unknown registration", b.json("DELETE", "/v1/meetings/m1/registrations/r-nope", ""), http.StatusNotFound, "")
	wantError(t, "erase in unknown meeting", b.json("DELETE", "/v1/meetings/nope/registrations/"+grace, ""), http.StatusNotFound, "")
	wantError(t, "erase without token", b.do("DELETE", "/v1/meetings/m1/registrations/"+grace, "", "", false), http.StatusUnauthorized, "")
	wantError(t, "the erased person's link", b.do("GET", "/r/"+b.signer.Sign("m1", ada), "", "", false), http.StatusNotFound, "")
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1}) {
		t.Errorf("counts after refused erasures %+v, want 1 confirmed, 1 waitlisted", got)
	}

	// Erasing a waitlisted and a cancelled registration updates their counts.
	rec = b.serveRaw("DELETE", "/v1/meetings/m1/registrations/"+hedy, orgHdr(), "")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("erase waitlisted: %d %s", rec.Code, rec.Body)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1}) {
		t.Errorf("counts after erasing the waitlisted one %+v, want 1 confirmed", got)
	}
	if res := b.do("POST", "/v1/registrations/"+b.signer.Sign("m1", grace)+"/cancel", "", "", false); res.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Cancelled: 1}) {
		t.Fatalf("counts after cancelling %+v, want 1 cancelled", got)
	}
	rec = b.serveRaw("DELETE", "/v1/meetings/m1/registrations/"+grace, orgHdr(), "")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("erase cancelled: %d %s", rec.Code, rec.Body)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{}) {
		t.Errorf("counts after erasing everyone %+v, want zeros", got)
	}
	if regs := b.registrationsOf("m1"); len(regs) != 0 {
		t.Errorf("registrations after erasing everyone: %v", regs)
	}

	// The address is free again.
	again := b.mustRegister("m1", name, email, "confirmed")
	if again == ada {
		t.Errorf("registering again reused the erased id %s", ada)
	}
}

// --- POST /v1/meetings/{id}/registrations/resend ---

func TestResendNeverRevealsWhoIsRegistered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	ada := b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
	grace := b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
	gone := b.mustRegister("m1", "Gone", "gone@example.org", "waitlisted")
	if res := b.do("POST", "/v1/registrations/"+b.signer.Sign("m1", gone)+"/cancel", "", "", false); res.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.status, res.raw)
	}
	resend := func(body string) response {
		t.Helper()
		return b.do("POST", "/v1/meetings/m1/registrations/resend", "application/json", body, false)
	}

	base := b.pendingTaskIDs(jobs.TypeEmail)
	registered := resend(`{"email":"ADA@Example.ORG"}`)
	unknown := resend(`{"email":"nobody@example.org"}`)
	cancelled := resend(`{"email":"gone@example.org"}`)
	for what, res := range map[string]response{"registered": registered, "unknown": unknown, "cancelled": cancelled} {
		if res.status != http.StatusAccepted || res.raw != registered.raw {
			t.Errorf("%s address: %d %s; want 202 and the same body as for a registered one (%s)", what, res.status, res.raw, registered.raw)
		}
	}
	added := diff(b.pendingTaskIDs(jobs.TypeEmail), base)
	if want := []string{emailTaskID("m1", ada, convene.EmailConfirmation, "2")}; !slices.Equal(added, want) {
		t.Fatalf("email tasks added by the resends %v, want %v", added, want)
	}

	// Within 10 minutes a second resend sends nothing, and says the same.
	base = b.pendingTaskIDs(jobs.TypeEmail)
	if res := resend(`{"email":"ada@example.org"}`); res.status != http.StatusAccepted || res.raw != registered.raw {
		t.Errorf("second resend: %d %s, want 202 %s", res.status, res.raw, registered.raw)
	}
	if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); len(added) != 0 {
		t.Errorf("a second resend within 10 minutes queued %v", added)
	}

	// A waitlisted participant gets the waiting-list notice again.
	base = b.pendingTaskIDs(jobs.TypeEmail)
	if res := resend(`{"email":" grace@example.org "}`); res.status != http.StatusAccepted {
		t.Errorf("resend waitlisted: %d %s", res.status, res.raw)
	}
	if added, want := diff(b.pendingTaskIDs(jobs.TypeEmail), base), []string{emailTaskID("m1", grace, convene.EmailWaitlisted, "2")}; !slices.Equal(added, want) {
		t.Errorf("resend to a waitlisted participant queued %v, want %v", added, want)
	}

	base = b.pendingTaskIDs(jobs.TypeEmail)
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		status      int
		field       string
	}{
		{"malformed email", "application/json", `{"email":"not-an-address"}`, http.StatusBadRequest, "email"},
		{"email with a display name", "application/json", `{"email":"Ada <ada@example.org>"}`, http.StatusBadRequest, "email"},
		{"email with CR/LF", "application/json", `{"email":"ada@example.org\r\nBcc: x@example.org"}`, http.StatusBadRequest, "email"},
		{"missing email", "application/json", `{}`, http.StatusBadRequest, "email"},
		{"unknown field", "application/json", `{"email":"ada@example.org","name":"Ada"}`, http.StatusBadRequest, "name"},
		{"malformed JSON", "application/json", `{"email":`, http.StatusBadRequest, ""},
		{"no content type", "", `{"email":"ada@example.org"}`, http.StatusUnsupportedMediaType, ""},
		{"text/plain", "text/plain", `{"email":"ada@example.org"}`, http.StatusUnsupportedMediaType, ""},
	} {
		wantError(t, tc.name, b.do("POST", "/v1/meetings/m1/registrations/resend", tc.contentType, tc.body, false), tc.status, tc.field)
	}
	wantError(t, "unknown meeting", b.do("POST", "/v1/meetings/nope/registrations/resend", "application/json", `{"email":"ada@example.org"}`, false), http.StatusNotFound, "")
	if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); len(added) != 0 {
		t.Errorf("refused resends queued %v", added)
	}
}

// diff returns the elements of now that are not in before.
func diff(now, before []string) []string {
	var out []string
	for _, s := range now {
		if !slices.Contains(before, s) {
			out = append(out, s)
		}
	}
	return out
}

// --- The personal link: /r/{token} and /v1/registrations/{token}/cancel ---

func TestPersonalLinkPageShowsTheRegistrationAndNeverCancels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group on water","starts_at":"` + future(48*time.Hour) + `","timezone":"Europe/Zurich","capacity":1}`)
	ada := b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
	grace := b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
	tok := b.signer.Sign("m1", ada)
	emails := b.pendingTaskIDs(jobs.TypeEmail)

	for _, accept := range []string{"", "text/html,application/xhtml+xml", "application/json"} {
		for _, method := range []string{"GET", "HEAD"} {
			what := method + " /r/{token} with Accept " + accept
			rec := b.serveRaw(method, "/r/"+tok, hdr("Accept", accept), "")
			if method == "HEAD" {
				if rec.Code != http.StatusOK {
					t.Errorf("%s: %d", what, rec.Code)
				}
				continue
			}
			wantHTMLPage(t, what, rec, http.StatusOK)
			page := rec.Body.String()
			for _, s := range []string{"Expert group on water", "<form", `method="post"`, `action="/r/` + tok + `/cancel"`, "Your seat is confirmed"} {
				if !strings.Contains(page, s) {
					t.Errorf("%s: the page lacks %q:\n%s", what, s, page)
				}
			}
		}
	}
	if got := b.statusesOf("m1"); got[ada] != "confirmed" || got[grace] != "waitlisted" {
		t.Errorf("after GETs of the personal link: %v, want it still confirmed", got)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1}) {
		t.Errorf("counts after GETs %+v", got)
	}
	if got := b.pendingTaskIDs(jobs.TypeEmail); !slices.Equal(got, emails) {
		t.Errorf("GETs of the personal link queued emails: %v (had %v)", got, emails)
	}
}

func TestPersonalLinkRejectsBadTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	b.createMeeting(`{"id":"m2","title":"Another","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC"}`)
	ada := b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
	grace := b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
	good := b.signer.Sign("m1", ada)
	graceTok := b.signer.Sign("m1", grace)
	other, err := convene.NewSigner([]byte("another-signing-key-that-is-long-enough"))
	if err != nil {
		t.Fatal(err)
	}
	mac := good[strings.LastIndexByte(good, '.')+1:]
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	before := b.registrationsOf("m1")
	emails := b.pendingTaskIDs(jobs.TypeEmail)

	for _, tc := range []struct{ name, token string }{
		{"tampered MAC", flip(good, len(good)-1)},
		{"tampered first MAC character", flip(good, len(good)-len(mac))},
		{"MAC of another registration", "m1." + ada + "." + graceTok[strings.LastIndexByte(graceTok, '.')+1:]},
		{"another registration's id under this MAC", "m1." + grace + "." + mac},
		{"another meeting's id under this MAC", "m2." + ada + "." + mac},
		{"truncated", good[:len(good)-5]},
		{"without MAC", "m1." + ada},
		{"without MAC but with the dot", "m1." + ada + "."},
		{"MAC alone", mac},
		{"extra part", good + ".x"},
		{"signed with another key", other.Sign("m1", ada)},
		{"signed for an unknown registration", b.signer.Sign("m1", "r-nope")},
		{"signed for a registration of another meeting", b.signer.Sign("m2", ada)},
		{"signed for an unknown meeting", b.signer.Sign("nope", ada)},
	} {
		for _, ep := range []struct{ method, path string }{
			{"GET", "/r/" + tc.token},
			{"POST", "/r/" + tc.token + "/cancel"},
			{"POST", "/v1/registrations/" + tc.token + "/cancel"},
		} {
			what := tc.name + ": " + ep.method + " " + ep.path
			wantError(t, what, b.do(ep.method, ep.path, "", "", false), http.StatusNotFound, "")
			rec := b.serveRaw(ep.method, ep.path, hdr("Accept", "text/html"), "")
			if strings.HasPrefix(ep.path, "/v1/") {
				if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
					t.Errorf("%s with Accept text/html: %d %q, want a JSON 404 (an API)", what, rec.Code, rec.Header().Get("Content-Type"))
				}
				continue
			}
			wantHTMLPage(t, what+" with Accept text/html", rec, http.StatusNotFound)
			if body := rec.Body.String(); !strings.Contains(body, "404") || strings.Contains(body, "<form") {
				t.Errorf("%s with Accept text/html: the 404 page: %s", what, body)
			}
		}
	}
	if after := b.registrationsOf("m1"); !reflect.DeepEqual(after, before) {
		t.Errorf("bad tokens changed registrations:\nbefore %v\nafter  %v", before, after)
	}
	if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1}) {
		t.Errorf("counts after bad tokens %+v", got)
	}
	if got := b.pendingTaskIDs(jobs.TypeEmail); !slices.Equal(got, emails) {
		t.Errorf("bad tokens queued emails: %v (had %v)", got, emails)
	}
	// The good token still works: the 404s were about the tokens.
	if rec := b.serveRaw("GET", "/r/"+good, nil, ""); rec.Code != http.StatusOK {
		t.Errorf("the good token: %d", rec.Code)
	}
	// No token, good or bad, reaches the logs: every request above was
	// logged by its route pattern.
	logs := b.logs.String()
	if !strings.Contains(logs, `"route":"GET /r/{token}"`) {
		t.Errorf("no request log line for the personal link:\n%s", logs)
	}
	for _, secret := range []string{mac, graceTok[strings.LastIndexByte(graceTok, '.')+1:], other.Sign("m1", ada), token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold a token (%s):\n%s", secret, logs)
		}
	}
}

func TestCancelByPersonalLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cancel func(b *bundle, tok string) (status int, body string)
		check  func(t *testing.T, b *bundle, status int, body string)
	}{
		{
			name: "the page's form",
			cancel: func(b *bundle, tok string) (int, string) {
				rec := b.serveRaw("POST", "/r/"+tok+"/cancel", hdr("Accept", "text/html", "Content-Type", "application/x-www-form-urlencoded"), "")
				if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
					rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
					b.t.Errorf("cancel page headers %v", rec.Header())
				}
				return rec.Code, rec.Body.String()
			},
			check: func(t *testing.T, b *bundle, status int, body string) {
				if status != http.StatusOK || !strings.Contains(body, "Your registration is cancelled") || strings.Contains(body, "<form") {
					t.Errorf("cancel page: %d, want 200 saying it is cancelled, without a form:\n%s", status, body)
				}
			},
		},
		{
			name: "the API",
			cancel: func(b *bundle, tok string) (int, string) {
				res := b.do("POST", "/v1/registrations/"+tok+"/cancel", "", "", false)
				return res.status, res.raw
			},
			check: func(t *testing.T, b *bundle, status int, body string) {
				var v map[string]any
				if err := json.Unmarshal([]byte(body), &v); status != http.StatusOK || err != nil || v["status"] != "cancelled" || v["meeting_id"] != "m1" {
					t.Errorf("cancel API: %d %s, want 200 with status cancelled", status, body)
				}
				if _, leaks := v["email"]; leaks {
					t.Errorf("the cancel answer shows the address: %s", body)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
			ada := b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
			grace := b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
			hedy := b.mustRegister("m1", "Hedy", "hedy@example.org", "waitlisted")
			tok := b.signer.Sign("m1", ada)
			cancelledEmail := emailTaskID("m1", ada, convene.EmailCancelled, convene.CancelledSelf)
			promotedEmail := emailTaskID("m1", grace, convene.EmailPromoted, "1")

			base := b.pendingTaskIDs(jobs.TypeEmail)
			status, body := tc.cancel(b, tok)
			tc.check(t, b, status, body)
			if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); !slices.Equal(added, []string{cancelledEmail, promotedEmail}) &&
				!slices.Equal(added, []string{promotedEmail, cancelledEmail}) {
				t.Errorf("emails queued by the cancel %v, want %s and %s", added, cancelledEmail, promotedEmail)
			}
			want := map[string]string{ada: "cancelled", grace: "confirmed", hedy: "waitlisted"}
			if got := b.statusesOf("m1"); !reflect.DeepEqual(got, want) {
				t.Errorf("after the cancel %v, want %v", got, want)
			}
			if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1, Cancelled: 1}) {
				t.Errorf("counts after the cancel %+v", got)
			}

			// The worker has sent both: their tasks are gone, and a second
			// cancel must queue neither again.
			for _, id := range []string{cancelledEmail, promotedEmail} {
				if err := b.inspector.DeleteTask(jobs.QueueCritical, id); err != nil {
					t.Fatal(err)
				}
			}
			base = b.pendingTaskIDs(jobs.TypeEmail)
			status, body = tc.cancel(b, tok)
			tc.check(t, b, status, body)
			if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); len(added) != 0 {
				t.Errorf("a second cancel queued %v", added)
			}
			if got := b.statusesOf("m1"); !reflect.DeepEqual(got, want) {
				t.Errorf("after a second cancel %v, want %v (no second promotion)", got, want)
			}
			if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 1, Cancelled: 1}) {
				t.Errorf("counts after a second cancel %+v", got)
			}

			// The link still shows the registration, cancelled, without a form.
			rec := b.serveRaw("GET", "/r/"+tok, nil, "")
			wantHTMLPage(t, "the page of a cancelled registration", rec, http.StatusOK)
			if page := rec.Body.String(); !strings.Contains(page, "Your registration is cancelled") || strings.Contains(page, "<form") {
				t.Errorf("the page of a cancelled registration:\n%s", page)
			}

			// The same address may register again: a new registration.
			res := b.do("POST", "/v1/meetings/m1/registrations", "application/json", `{"name":"Ada","email":"ADA@example.org"}`, false)
			if res.status != http.StatusCreated || res.body["id"] == ada || res.body["id"] == "" || res.body["status"] != "waitlisted" {
				t.Errorf("registering again: %d %s, want 201 with a new id, waitlisted", res.status, res.raw)
			}
			if got := b.countsOf("m1"); got != (convene.Counts{Confirmed: 1, Waitlisted: 2, Cancelled: 1}) {
				t.Errorf("counts after registering again %+v", got)
			}
		})
	}
}

// SPEC §3: when a meeting is cancelled its participants "get one
// `cancelled` email". Their personal links then show the cancellation with
// no cancel form; a cancel POST (a stale tab, an API client) must not send
// them a second "cancelled" email.
func TestCancellingARegistrationOfACancelledMeetingSendsNoSecondCancelledEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createMeeting(`{"id":"m1","title":"Expert group","starts_at":"` + future(48*time.Hour) + `","timezone":"UTC","capacity":1}`)
	ada := b.mustRegister("m1", "Ada", "ada@example.org", "confirmed")
	grace := b.mustRegister("m1", "Grace", "grace@example.org", "waitlisted")
	if res := b.json("POST", "/v1/meetings/m1/cancel", ""); res.status != http.StatusOK {
		t.Fatalf("cancel meeting: %d %s", res.status, res.raw)
	}
	rec := b.serveRaw("GET", "/r/"+b.signer.Sign("m1", ada), nil, "")
	wantHTMLPage(t, "the page of a cancelled meeting", rec, http.StatusOK)
	if page := rec.Body.String(); !strings.Contains(page, "Cancelled by the organisers") || strings.Contains(page, "<form") {
		t.Errorf("the page of a cancelled meeting:\n%s", page)
	}

	base := b.pendingTaskIDs(jobs.TypeEmail)
	for _, id := range []string{ada, grace} {
		res := b.do("POST", "/v1/registrations/"+b.signer.Sign("m1", id)+"/cancel", "", "", false)
		if res.status != http.StatusOK && res.status != http.StatusConflict {
			t.Errorf("cancel %s of a cancelled meeting: %d %s, want 200 (no-op) or 409", id, res.status, res.raw)
		}
	}
	if added := diff(b.pendingTaskIDs(jobs.TypeEmail), base); len(added) != 0 {
		t.Errorf("cancelling registrations of a cancelled meeting queued %v: a second cancelled email to participants "+
			"the meeting's cancellation already told", added)
	}
}
