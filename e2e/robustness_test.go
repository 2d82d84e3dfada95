package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"convene/internal/testredis"
)

func TestParallelIdenticalRegistrationsAreOne(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web", "INTAKE_RATE_PER_IP=0", "INTAKE_RATE_PER_EMAIL=0")
	s.start(t, "worker")
	createMeeting(t, web, "m1", 0)
	var wg sync.WaitGroup
	ids := make([]string, 50)
	codes := make([]int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "Ada@Example.org"
			switch i % 3 {
			case 1:
				email = "ada@example.org"
			case 2:
				email = "ADA@EXAMPLE.ORG"
			}
			code, res := call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", fmt.Sprintf(`{"name":"Ada","email":%q}`, email))
			codes[i] = code
			ids[i], _ = res["id"].(string)
		}()
	}
	wg.Wait()
	created := 0
	for i := range 50 {
		if ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("answer %d: %d id %q, answer 0 id %q", i, codes[i], ids[i], ids[0])
		}
		if codes[i] == 201 {
			created++
		} else if codes[i] != 200 {
			t.Fatalf("answer %d: %d", i, codes[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d answers were 201, want 1", created)
	}
	s.sink.WaitCount(t, 1, 20*time.Second)
	// A second registration is the marker that the queue moved on.
	call(t, "POST", web.addr+"/v1/meetings/m1/registrations", "", `{"name":"Bo","email":"bo@example.org"}`)
	s.sink.WaitCount(t, 2, 20*time.Second)
	if n := s.sink.Count(); n != 2 {
		t.Fatalf("%d emails, want one for Ada and one for Bo", n)
	}
}

func TestRedisOutOfMemoryAnswers503AndWritesNothing(t *testing.T) {
	t.Parallel()
	r := testredis.Start(t, "--maxmemory", "4mb")
	web := start(t, "web", "REDIS_URL="+r.URL(), "ORGANISER_TOKENS="+organiser)
	createMeeting(t, web, "m1", 0)
	c := r.Client(t)
	ctx := context.Background()
	filler := strings.Repeat("x", 256)
	for i := 0; ; i++ {
		if err := c.Set(ctx, fmt.Sprintf("fill:%d", i), filler, 0).Err(); err != nil {
			break // at maxmemory
		}
		if i > 200000 {
			t.Fatal("Redis never reached maxmemory")
		}
	}
	req, _ := http.NewRequest("POST", web.addr+"/v1/meetings/m1/registrations", strings.NewReader(`{"name":"Ada","email":"ada@example.org"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("register at maxmemory: %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	keys, _ := c.Keys(ctx, "cv:*").Result()
	for _, k := range keys {
		if strings.Contains(k, ":r:") || strings.HasSuffix(k, ":e") || strings.HasSuffix(k, ":q") && c.ZCard(ctx, k).Val() > 1 {
			t.Fatalf("a refused registration left %s", k)
		}
	}
}

func TestSlowClientsAreCutOffAndManyConnectionsDoNotCrashTheWeb(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	host := strings.TrimPrefix(web.addr, "http://")

	// Slow loris: headers one byte at a time never finish; the server
	// closes the connection after its header timeout (5 s).
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
		r := bufio.NewReader(conn)
		for {
			if _, err := conn.Write([]byte("X")); err != nil {
				closed <- time.Since(start)
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := r.ReadByte(); err != nil && !os.IsTimeout(err) {
				closed <- time.Since(start)
				return
			}
		}
	}()
	select {
	case d := <-closed:
		if d < 4*time.Second {
			t.Fatalf("closed after %v, before the header timeout", d)
		}
		if d > 10*time.Second {
			t.Fatalf("closed after %v, want about 5s: the header timeout, not the longer read timeout", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a client that never finishes its headers was not cut off")
	}

	// 10,000 connections at once: the web process keeps serving.
	const n = 10000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d refused: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get(web.addr + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz with %d open connections: %v %v", n, res, err)
	}
	res.Body.Close()
	if code, _ := call(t, "GET", web.addr+"/v1/meetings", organiser, ""); code != 200 {
		t.Fatalf("API with %d open connections: %d", n, code)
	}
}

// aofContains reports whether any AOF file of the Redis holds needle.
func aofContains(t testing.TB, dir, needle string) string {
	t.Helper()
	var found string
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.Contains(path, "appendonly") {
			return nil
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(needle)) {
			found = path
		}
		return nil
	})
	return found
}

// TestSlowBodyIsCutOffAndStoresNothing: a client that sends its headers at
// once and then its body a byte at a time is cut off by the read timeout
// (15 s) with a 408, and nothing is stored.
func TestSlowBodyIsCutOffAndStoresNothing(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web")
	createMeeting(t, web, "m1", 0)
	host := strings.TrimPrefix(web.addr, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"Slow Sender","email":"slow@example.org"}`
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /v1/meetings/m1/registrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn)
		answered <- string(b)
	}()
	var answer string
	// A byte every 500 ms: the body would take 25 s.
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	giveUp := time.After(30 * time.Second)
send:
	for i := 0; ; i++ {
		select {
		case answer = <-answered:
			break send
		case <-ticker.C:
			if i < len(body)-1 { // never the last byte
				_, _ = conn.Write([]byte{body[i]})
			}
		case <-giveUp:
			t.Fatal("a client sending its body too slowly was not cut off")
		}
	}
	took := time.Since(start)
	if took < 14*time.Second || took > 20*time.Second {
		t.Fatalf("cut off after %v, want about 15 s (the read timeout)", took)
	}
	if !strings.HasPrefix(answer, "HTTP/1.1 408 ") || !strings.Contains(answer, `"error"`) {
		t.Fatalf("answer %q, want a 408 with a JSON error", answer)
	}
	if code, res := call(t, "GET", web.addr+"/v1/meetings/m1/registrations", organiser, ""); code != 200 || strings.Contains(fmt.Sprint(res), "slow@example.org") {
		t.Fatalf("registrations after the cut-off: %d %v, want none", code, res)
	}
}
