package e2e_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkRegistrationToEmail measures, through the real web and worker
// processes, the time from the start of a registration request to the
// moment the SMTP server has accepted its confirmation, at a steady
// 100 registrations/s. Run with:
//
//	go test ./e2e -run '^$' -bench RegistrationToEmail -benchtime 400x
func BenchmarkRegistrationToEmail(b *testing.B) {
	s := newSystemTB(b)
	web := s.start(b, "web", "INTAKE_RATE_PER_IP=0", "INTAKE_RATE_PER_EMAIL=0")
	s.start(b, "worker")
	createMeeting(b, web, "bench", 0)

	started := make(map[string]time.Time, b.N)
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			begin := time.Now()
			code, res := call(b, "POST", web.addr+"/v1/meetings/bench/registrations", "",
				fmt.Sprintf(`{"name":"Participant %d","email":"p%d@example.org"}`, i, i))
			if code != http.StatusCreated {
				b.Errorf("register: %d %v", code, res)
				return
			}
			mu.Lock()
			started[res["id"].(string)] = begin
			mu.Unlock()
		}()
	}
	wg.Wait()
	msgs := s.sink.WaitCount(b, b.N, time.Minute)
	b.StopTimer()
	lat := make([]float64, 0, len(msgs))
	for _, m := range msgs {
		if begin, ok := started[m.Header("X-Convene-Registration")]; ok {
			lat = append(lat, float64(m.Received.Sub(begin).Microseconds())/1000)
		}
	}
	if len(lat) != b.N {
		b.Fatalf("%d latencies for %d registrations", len(lat), b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkReminderLateness measures, through the real web, worker and
// scheduler processes, when reminders reach the SMTP server relative to
// their due time: 200 reminders (20 meetings of 10 participants) due at
// scattered times over about 7 s. Reports the lateness p50/p99/max and the
// earliest arrival before its due time (0 when none was early). Run with:
//
//	go test ./e2e -run '^$' -bench ReminderLateness -benchtime 1x
func BenchmarkReminderLateness(b *testing.B) {
	const meetings, perMeeting = 20, 10
	s := newSystemTB(b)
	web := s.start(b, "web", "INTAKE_RATE_PER_IP=0", "INTAKE_RATE_PER_EMAIL=0")
	s.start(b, "worker")
	s.start(b, "scheduler")
	var late []float64
	for round := range b.N {
		due := map[string]time.Time{}
		base := time.Now().Add(4 * time.Second)
		for i := range meetings {
			id := fmt.Sprintf("r%d-m%d", round, i)
			createMeeting(b, web, id, 0)
			for j := range perMeeting {
				code, res := call(b, "POST", web.addr+"/v1/meetings/"+id+"/registrations", "", fmt.Sprintf(`{"name":"P","email":"p%d@example.org"}`, j))
				if code != http.StatusCreated {
					b.Fatalf("register: %d %v", code, res)
				}
			}
			at := base.Add(time.Duration(i) * 347 * time.Millisecond).UTC()
			code, res := call(b, "POST", web.addr+"/v1/meetings/"+id+"/reminders", organiser, fmt.Sprintf(`{"send_at":%q,"subject":"Soon"}`, at.Format(time.RFC3339Nano)))
			if code != http.StatusCreated {
				b.Fatalf("add reminder: %d %v", code, res)
			}
			due[id] = at
		}
		msgs := waitKind(b, s.sink, "reminder", (round+1)*meetings*perMeeting, time.Minute)
		for _, m := range msgs {
			if d, ok := due[m.Header("X-Convene-Meeting")]; ok {
				late = append(late, float64(m.Received.Sub(d).Microseconds())/1000)
			}
		}
	}
	b.StopTimer()
	slices.Sort(late)
	early := 0.0
	if late[0] < 0 {
		early = -late[0]
	}
	b.ReportMetric(late[len(late)/2], "late-p50-ms")
	b.ReportMetric(late[len(late)*99/100], "late-p99-ms")
	b.ReportMetric(late[len(late)-1], "late-max-ms")
	b.ReportMetric(early, "early-max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFanout10k measures one reminder for a meeting with 10,000
// confirmed participants: from its due time to the last reminder accepted
// by the SMTP server, through the real processes. Run with:
//
//	go test ./e2e -run '^$' -bench Fanout10k -benchtime 1x -timeout 30m
func BenchmarkFanout10k(b *testing.B) {
	const n = 10000
	s := newSystemTB(b)
	web := s.start(b, "web", "INTAKE_RATE_PER_IP=0", "INTAKE_RATE_PER_EMAIL=0")
	s.start(b, "worker")
	s.start(b, "scheduler")
	var total time.Duration
	for round := range b.N {
		id := fmt.Sprintf("big%d", round)
		createMeeting(b, web, id, 0)
		var wg sync.WaitGroup
		work := make(chan int)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					code, res := call(b, "POST", web.addr+"/v1/meetings/"+id+"/registrations", "", fmt.Sprintf(`{"name":"P %d","email":"p%d@example.org"}`, j, j))
					if code != http.StatusCreated {
						b.Errorf("register: %d %v", code, res)
					}
				}
			}()
		}
		for j := range n {
			work <- j
		}
		close(work)
		wg.Wait()
		waitKind(b, s.sink, "confirmation", (round+1)*n, 5*time.Minute)
		due := time.Now().Add(3 * time.Second).UTC()
		code, res := call(b, "POST", web.addr+"/v1/meetings/"+id+"/reminders", organiser, fmt.Sprintf(`{"send_at":%q}`, due.Format(time.RFC3339Nano)))
		if code != http.StatusCreated {
			b.Fatalf("add reminder: %d %v", code, res)
		}
		msgs := waitKind(b, s.sink, "reminder", (round+1)*n, 5*time.Minute)
		var last time.Time
		for _, m := range msgs {
			if m.Header("X-Convene-Meeting") == id && m.Received.After(last) {
				last = m.Received
			}
			if m.Received.Before(due) {
				b.Fatalf("a reminder arrived %v early", due.Sub(m.Received))
			}
		}
		total += last.Sub(due)
	}
	b.StopTimer()
	b.ReportMetric(total.Seconds()/float64(b.N), "fanout-s")
	b.ReportMetric(0, "ns/op")
}
