package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"convene/internal/smtpsink"
)

func kindCount(s *smtpsink.Sink, kind string) int {
	n := 0
	for _, m := range s.Messages() {
		if m.Header("X-Convene-Kind") == kind {
			n++
		}
	}
	return n
}

func waitKind(t testing.TB, s *smtpsink.Sink, kind string, n int, timeout time.Duration) []smtpsink.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []smtpsink.Message
		for _, m := range s.Messages() {
			if m.Header("X-Convene-Kind") == kind {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s emails after %v, want %d", len(got), kind, timeout, n)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestRemindersMovesAndCancellationsThroughTheProcesses(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	s.start(t, "worker")
	s.start(t, "scheduler")
	starts := time.Now().Add(6 * time.Second).UTC()
	body := fmt.Sprintf(`{"id":"m1","title":"Side event","starts_at":%q,"timezone":"UTC","reminders":["3s"],"capacity":1}`, starts.Format(time.RFC3339Nano))
	if code, res := call(t, "POST", web.addr+"/v1/meetings", organiser, body); code != 201 {
		t.Fatalf("create: %d %v", code, res)
	}
	_, first := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Ada","email":"ada@example.org"}`)
	_, second := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Grace","email":"grace@example.org"}`)
	if first["status"] != "confirmed" || second["status"] != "waitlisted" {
		t.Fatalf("statuses %v %v", first, second)
	}
	due := starts.Add(-3 * time.Second)
	rem := waitKind(t, s.sink, "reminder", 1, 10*time.Second)[0]
	if rem.Received.Before(due) || rem.Received.Sub(due) > 2*time.Second {
		t.Fatalf("reminder at %v relative to its due time", rem.Received.Sub(due))
	}
	if rem.To[0] != "ada@example.org" {
		t.Fatalf("reminder to %v, want only the confirmed participant", rem.To)
	}

	// Ada cancels through her personal link; Grace gets the seat.
	text, _ := rem.Part("text/plain")
	i := strings.Index(string(text.Body), "https://convene.test/r/")
	if i < 0 {
		t.Fatalf("no personal link in the reminder:\n%s", text.Body)
	}
	link := strings.Fields(string(text.Body)[i:])[0]
	token := strings.TrimPrefix(link, "https://convene.test/r/")
	res, err := http.Get(web.addr + "/r/" + token)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET personal link: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.PostForm(web.addr+"/r/"+token+"/cancel", url.Values{})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("POST cancel: %v %v", res, err)
	}
	res.Body.Close()
	waitKind(t, s.sink, "cancelled", 1, 10*time.Second)
	if strings.Contains(web.output(), token) || strings.Contains(web.output(), organiser) {
		t.Fatal("a token is in the web process's logs")
	}
	promoted := waitKind(t, s.sink, "promoted", 1, 10*time.Second)
	if promoted[0].To[0] != "grace@example.org" {
		t.Fatalf("promoted %v", promoted[0].To)
	}

	// The organiser cancels the meeting: Grace is told, once.
	for range 2 {
		if code, res := call(t, "POST", web.addr+"/v1/meetings/m1/cancel", organiser, ""); code != 200 || res["status"] != "cancelled" {
			t.Fatalf("cancel: %d %v", code, res)
		}
	}
	got := waitKind(t, s.sink, "cancelled", 2, 10*time.Second)
	if got[1].To[0] != "grace@example.org" {
		t.Fatalf("meeting cancellation to %v", got[1].To)
	}
	if code, _ := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Late","email":"late@example.org"}`); code != 409 {
		t.Fatalf("register for a cancelled meeting: %d", code)
	}
	// By the start, nothing more arrived: no second cancellation.
	for time.Now().Before(starts) {
		if n := kindCount(s.sink, "cancelled"); n > 2 {
			t.Fatalf("%d cancellations", n)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func TestErasureLeavesNoTrace(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	worker := s.start(t, "worker")
	createMeeting(t, web, "m1", 1)
	// Bob's server refuses his address: the archived task keeps an error.
	s.sink.SetFault(smtpsink.Fault{Code: 550})
	_, bob := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Bob Secretname","email":"bob.secret@example.org","organisation":"Secret Org"}`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, list := call(t, "GET", web.addr+"/v1/meetings/m1/registrations", organiser, "")
		regs, _ := list["registrations"].([]any)
		if len(regs) == 1 && regs[0].(map[string]any)["email_status"] == "bounced" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bounce recorded: %v", list)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	s.sink.SetFault(smtpsink.Fault{})
	_, carol := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Carol","email":"carol@example.org"}`)
	if carol["status"] != "waitlisted" {
		t.Fatalf("carol %v", carol)
	}
	if code, _ := callRaw(t, "DELETE", web.addr+"/v1/meetings/m1/registrations/"+bob["id"].(string), organiser); code != 204 {
		t.Fatalf("erase: %d", code)
	}
	waitKind(t, s.sink, "promoted", 1, 10*time.Second)
	for _, needle := range []string{"bob.secret", "Secretname", "Secret Org"} {
		if where := findInRedis(t, s, needle); where != "" {
			t.Fatalf("%q is still in Redis after erasure: %s", needle, where)
		}
		for _, p := range []*process{web, worker} {
			if strings.Contains(strings.ToLower(p.output()), strings.ToLower(needle)) {
				t.Fatalf("%q is in the logs:\n%s", needle, p.output())
			}
		}
	}
	// The AOF still holds the history until it is rewritten; after a
	// rewrite (BGREWRITEAOF, which Redis also runs by itself as the file
	// grows) nothing is left there either.
	if where := aofContains(t, s.redis.Dir(), "bob.secret"); where == "" {
		t.Fatal("the AOF never held the address: this check would prove nothing")
	}
	c := s.redis.Client(t)
	if err := c.BgRewriteAOF(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		info := c.Info(context.Background(), "persistence").Val()
		if strings.Contains(info, "aof_rewrite_in_progress:0") && strings.Contains(info, "aof_rewrite_scheduled:0") && aofContains(t, s.redis.Dir(), "bob.secret") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after BGREWRITEAOF the AOF still holds the address: %s", aofContains(t, s.redis.Dir(), "bob.secret"))
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// callRaw makes a request and returns the status only.
func callRaw(t testing.TB, method, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode, res.Header.Get("Content-Type")
}

// findInRedis scans every key of the system's Redis, and every value by
// its type, for needle (case-insensitive); it returns where it was found.
func findInRedis(t testing.TB, s *system, needle string) string {
	t.Helper()
	c := s.redis.Client(t)
	ctx := context.Background()
	needle = strings.ToLower(needle)
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var values []string
		switch c.Type(ctx, k).Val() {
		case "string":
			values = []string{c.Get(ctx, k).Val()}
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				values = append(values, f, v)
			}
		case "list":
			values = c.LRange(ctx, k, 0, -1).Val()
		case "set":
			values = c.SMembers(ctx, k).Val()
		case "zset":
			values = c.ZRange(ctx, k, 0, -1).Val()
		}
		for _, v := range append(values, k) {
			if strings.Contains(strings.ToLower(v), needle) {
				return k
			}
		}
	}
	return ""
}
