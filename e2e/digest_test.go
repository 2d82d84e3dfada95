package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"convene/internal/smtpsink"
)

func digests(s *smtpsink.Sink) []smtpsink.Message {
	var out []smtpsink.Message
	for _, m := range s.Messages() {
		if m.Header("X-Convene-Kind") == "digest" {
			out = append(out, m)
		}
	}
	return out
}

func digestText(t testing.TB, m smtpsink.Message) string {
	t.Helper()
	p, ok := m.Part("text/plain")
	if !ok {
		t.Fatal("digest without a text part")
	}
	return string(p.Body)
}

// register registers "<prefix> n" for n in [from, to).
func registerNames(t testing.TB, web *process, meeting, prefix string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		code, res := call(t, "POST", web.addr+"/v1/meetings/"+meeting+"/registrations", "",
			fmt.Sprintf(`{"name":"%s%03d","email":"%s%d@example.org"}`, prefix, i, strings.ToLower(prefix), i))
		if code != http.StatusCreated {
			t.Fatalf("register: %d %v", code, res)
		}
	}
}

// checkOncePerTickAndOnceEach asserts that no tick has two digests for the
// organiser and that each of the names appears in exactly one digest.
func checkOncePerTickAndOnceEach(t *testing.T, msgs []smtpsink.Message, prefix string, n int) {
	t.Helper()
	ticks := map[string]int{}
	seen := map[string]int{}
	for _, m := range msgs {
		ticks[m.Header("Message-ID")]++
		text := digestText(t, m)
		for i := range n {
			if strings.Contains(text, fmt.Sprintf("%s%03d", prefix, i)) {
				seen[fmt.Sprintf("%s%03d", prefix, i)]++
			}
		}
	}
	for id, c := range ticks {
		if c != 1 {
			t.Fatalf("%d digests with Message-ID %s: a tick was sent twice", c, id)
		}
	}
	for i := range n {
		name := fmt.Sprintf("%s%03d", prefix, i)
		if seen[name] != 1 {
			t.Fatalf("%s is in %d digests, want exactly 1", name, seen[name])
		}
	}
}

func TestDigestsWithReplicasCatchUpAndUnsubscribe(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	s.start(t, "worker")
	body := fmt.Sprintf(`{"id":"m1","title":"Training","starts_at":%q,"timezone":"UTC","organisers":["org@example.org"]}`,
		time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
	if code, res := call(t, "POST", web.addr+"/v1/meetings", organiser, body); code != 201 {
		t.Fatalf("create: %d %v", code, res)
	}
	every := "DIGEST_SCHEDULE=@every 1s"
	var scheds []*process
	for range 3 {
		scheds = append(scheds, s.start(t, "scheduler", every))
	}
	// Registrations keep arriving while three schedulers tick every second.
	for i := range 6 {
		registerNames(t, web, "m1", "Alpha", i*5, i*5+5)
		time.Sleep(400 * time.Millisecond) // pacing the load over several ticks, not a synchronisation
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := digests(s.sink)
		total := 0
		for _, m := range msgs {
			total += strings.Count(digestText(t, m), "Alpha")
		}
		if total >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the digests show %d of 30 registrations", total)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	checkOncePerTickAndOnceEach(t, digests(s.sink), "Alpha", 30)
	if n := len(digests(s.sink)); n < 2 {
		t.Fatalf("%d digests over several ticks with changes", n)
	}
	for _, m := range digests(s.sink) {
		if m.To[0] != "org@example.org" || !strings.Contains(m.Header("List-Unsubscribe"), "/v1/digests/unsubscribe/") {
			t.Fatalf("digest to %v with List-Unsubscribe %q", m.To, m.Header("List-Unsubscribe"))
		}
	}

	// No scheduler runs for a while: the ticks in between are missed.
	for _, p := range scheds {
		if code := p.stop(15 * time.Second); code != 0 {
			t.Fatalf("scheduler exit %d", code)
		}
	}
	before := len(digests(s.sink))
	registerNames(t, web, "m1", "Beta", 0, 5)
	time.Sleep(3 * time.Second) // a gap of several missed ticks, with no scheduler to see them
	if n := len(digests(s.sink)); n != before {
		t.Fatalf("%d digests arrived with no scheduler running", n-before)
	}
	// A scheduler comes back: the registrations of the gap arrive in one
	// digest (the catch-up itself is proven with a clock in the jobs tests).
	back := s.start(t, "scheduler", every)
	got := waitDigests(t, s.sink, before+1, 15*time.Second)
	catchUp := got[before]
	for i := range 5 {
		if !strings.Contains(digestText(t, catchUp), fmt.Sprintf("Beta%03d", i)) {
			t.Fatalf("the first digest after the gap lacks Beta%03d:\n%s", i, digestText(t, catchUp))
		}
	}

	// Ticks with nothing new send nothing.
	quiet := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(quiet) {
		if n := len(digests(s.sink)); n != before+1 {
			t.Fatalf("%d digests for ticks with no changes", n-before-1)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}

	// One-click unsubscribe (RFC 8058) stops the digests.
	unsub := strings.Trim(catchUp.Header("List-Unsubscribe"), "<>")
	unsub = web.addr + unsub[strings.Index(unsub, "/v1/"):]
	res, err := http.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", res, err)
	}
	res.Body.Close()
	registerNames(t, web, "m1", "Gamma", 0, 3)
	time.Sleep(3 * time.Second) // several ticks with changes pass
	if n := len(digests(s.sink)); n != before+1 {
		t.Fatalf("%d digests after unsubscribing", n-before-1)
	}
	back.stop(15 * time.Second)
}

func waitDigests(t testing.TB, s *smtpsink.Sink, n int, timeout time.Duration) []smtpsink.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := digests(s); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d digests after %v, want %d", len(digests(s)), timeout, n)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
