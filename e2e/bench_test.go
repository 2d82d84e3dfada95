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
	web := s.start(b, "web")
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
