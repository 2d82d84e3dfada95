package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"convene/internal/smtpsink"
	"convene/internal/testredis"
)

// TestSentinelFailoverLosesNoAcknowledgedRegistration runs two web
// processes, three workers and two schedulers on a Sentinel-managed primary with
// one replica, with REDIS_WAIT_REPLICAS=1, under steady registrations. The
// primary is killed with SIGKILL; Sentinel promotes the replica, and the old
// primary, restarted, rejoins as its replica. Every registration answered
// 2xx exists afterwards and gets exactly one confirmation; no process
// exits; while Redis fails over, the web answers 503 with JSON, never hangs.
func TestSentinelFailoverLosesNoAcknowledgedRegistration(t *testing.T) {
	t.Parallel()
	sentinelFailover(t, 1)
}

// TestSentinelFailoverWithoutWaitingReportsWhatItLost is the same failover
// with REDIS_WAIT_REPLICAS=0: replication is asynchronous, so writes the
// primary acknowledged and had not yet passed on are lost. The test reports
// how many (it does not fail for them: that is the setting's known cost).
func TestSentinelFailoverWithoutWaitingReportsWhatItLost(t *testing.T) {
	t.Parallel()
	sentinelFailover(t, 0)
}

// sentinelFailover runs the failover with REDIS_WAIT_REPLICAS=wait; with
// wait ≥ 1 losing an acknowledged registration, or sending one twice, fails.
func sentinelFailover(t *testing.T, wait int) {
	strict := wait > 0
	sentinel := testredis.StartSentinel(t)
	sink := smtpsink.Start(t)
	env := []string{
		"REDIS_URL=" + sentinel.URL(),
		fmt.Sprintf("REDIS_WAIT_REPLICAS=%d", wait),
		"MAIL_URL=" + sink.URL(),
		"MAIL_FROM=Convene <no-reply@convene.test>",
		"ORGANISER_TOKENS=" + organiser,
		"PUBLIC_URL=https://convene.test",
		"INTAKE_RATE_PER_IP=0",
		// A notices job enqueued on the old primary and not yet passed on
		// is lost with it (the registration and its notice are not: they
		// are in the outbox); the sweep queues it again once its intent is
		// SWEEP_INTERVAL old. Short here, so the test need not wait 30 s.
		"SWEEP_INTERVAL=3s",
	}
	webs := []*process{start(t, "web", env...), start(t, "web", env...)}
	procs := append([]*process{}, webs...)
	for _, mode := range []string{"worker", "worker", "worker", "scheduler", "scheduler"} {
		procs = append(procs, start(t, mode, env...))
	}
	createMeeting(t, webs[0], "ha-2026", 0)

	// Steady registrations, 100 a second over both web processes, until
	// stop is closed.
	type answer struct {
		status int
		id     string
		took   time.Duration
		json   bool
		retry  string // Retry-After
	}
	var mu sync.Mutex
	var answers []answer
	stop := make(chan struct{})
	var load sync.WaitGroup
	client := &http.Client{Timeout: 15 * time.Second}
	load.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			inflight.Go(func() {
				body := fmt.Sprintf(`{"name":"Delegate %d","email":"d%d@example.org"}`, i, i)
				begin := time.Now()
				res, err := client.Post(webs[i%2].addr+"/v1/meetings/ha-2026/registrations", "application/json", strings.NewReader(body))
				a := answer{took: time.Since(begin)}
				if err == nil {
					raw, _ := io.ReadAll(res.Body)
					res.Body.Close()
					var v map[string]any
					a.status, a.json, a.retry = res.StatusCode, json.Unmarshal(raw, &v) == nil, res.Header.Get("Retry-After")
					a.id, _ = v["id"].(string)
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			})
		}
	})
	waitAnswers := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := len(answers)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d answers, want %d", got, n)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	waitAnswers(200)
	old := sentinel.Primary()
	failover := sentinel.KillPrimary()
	old.Restart()
	sentinel.WaitReplica(old)
	mu.Lock()
	after := len(answers)
	mu.Unlock()
	waitAnswers(after + 200)
	close(stop)
	load.Wait()

	acked := map[string]bool{}
	unavailable, hung := 0, 0
	var firstUnavailable, lastUnavailable time.Duration
	for i, a := range answers {
		switch {
		case a.status == http.StatusCreated || a.status == http.StatusOK:
			acked[a.id] = true
		case a.status == http.StatusServiceUnavailable && a.json && a.retry != "":
			unavailable++
			if firstUnavailable == 0 {
				firstUnavailable = time.Duration(i) * 10 * time.Millisecond
			}
			lastUnavailable = time.Duration(i) * 10 * time.Millisecond
		default:
			t.Errorf("registration %d: status %d (JSON %v, Retry-After %q) after %v, want 2xx or a 503 with JSON and Retry-After", i, a.status, a.json, a.retry, a.took)
		}
		if a.took > 10*time.Second {
			hung++
		}
	}
	if hung > 0 {
		t.Errorf("%d requests took more than 10 s", hung)
	}
	t.Logf("REDIS_WAIT_REPLICAS=%d; failover: %v from SIGKILL to a promoted replica; %d of %d registrations answered 503, over about %v; %d acknowledged",
		wait, failover.Round(time.Millisecond), unavailable, len(answers), (lastUnavailable - firstUnavailable).Round(time.Millisecond), len(acked))

	// Every acknowledged registration exists, and gets exactly one
	// confirmation.
	code, list := callList(t, webs[1].addr+"/v1/meetings/ha-2026/registrations")
	if code != http.StatusOK {
		t.Fatalf("list registrations: %d", code)
	}
	stored := map[string]bool{}
	for _, r := range list {
		stored[r["id"].(string)] = true
	}
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
			if strict {
				t.Errorf("registration %s was answered 2xx and is gone after the failover", id)
			}
		}
	}
	t.Logf("REDIS_WAIT_REPLICAS=%d: %d of %d acknowledged registrations lost in the failover", wait, lost, len(acked))
	deadline := time.Now().Add(60 * time.Second)
	for {
		per := map[string]int{}
		for _, m := range sink.Messages() {
			per[m.Header("X-Convene-Registration")]++
		}
		missing := 0
		for id := range stored {
			if per[id] == 0 {
				missing++
			}
		}
		for id, n := range per {
			if n > 1 && strict {
				t.Fatalf("registration %s got %d confirmations", id, n)
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stored registrations got no confirmation within 60 s", missing)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	for _, p := range procs {
		select {
		case <-p.done:
			t.Errorf("a %s process exited during the failover:\n%s", p.cmd.Args[1], p.output())
		default:
		}
	}
}

// callList GETs a list of registrations with the organiser token.
func callList(t testing.TB, url string) (int, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+organiser)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Registrations []map[string]any `json:"registrations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("registrations: %v", err)
	}
	return res.StatusCode, out.Registrations
}
