package e2e_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func registerFrom(t *testing.T, web *process, meeting, ip, email string) *http.Response {
	t.Helper()
	return postFrom(t, web.addr+"/v1/meetings/"+meeting+"/registrations", ip, fmt.Sprintf(`{"name":"N","email":%q}`, email))
}

func resendFrom(t *testing.T, web *process, meeting, ip, email string) *http.Response {
	t.Helper()
	return postFrom(t, web.addr+"/v1/meetings/"+meeting+"/registrations/resend", ip, fmt.Sprintf(`{"email":%q}`, email))
}

func postFrom(t *testing.T, url, ip, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestIntakeLimitsPerClientAndPerAddress(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	web := s.start(t, "web", "INTAKE_RATE_PER_IP=5", "INTAKE_RATE_PER_EMAIL=3", "TRUSTED_PROXIES=127.0.0.1/32,::1/128")
	s.start(t, "worker")
	for i := range 20 {
		createMeeting(t, web, fmt.Sprintf("m%d", i), 0)
	}
	// One client: the sixth registration in a minute is refused.
	for i := range 6 {
		res := registerFrom(t, web, "m0", "203.0.113.7", fmt.Sprintf("p%d@example.org", i))
		if i < 5 && res.StatusCode != 201 {
			t.Fatalf("registration %d from one client: %d", i, res.StatusCode)
		}
		if i == 5 {
			if res.StatusCode != 429 {
				t.Fatalf("sixth registration from one client: %d, want 429", res.StatusCode)
			}
			if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
			}
		}
	}
	// Resends count against the client's limit too (checked at once: the
	// limit frees one request every 12 s).
	res := resendFrom(t, web, "m0", "203.0.113.7", "someone@example.org")
	if res.StatusCode != 429 {
		t.Fatalf("resend from the client over its limit: %d, want 429", res.StatusCode)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("resend from the client over its limit: Retry-After %q", res.Header.Get("Retry-After"))
	}
	// One victim address, 20 meetings, 20 clients: at most 3 registrations, 3 emails.
	accepted := 0
	for i := range 20 {
		res := registerFrom(t, web, fmt.Sprintf("m%d", i), fmt.Sprintf("198.51.100.%d", i+1), "victim@example.org")
		switch res.StatusCode {
		case 201:
			accepted++
		case 429:
		default:
			t.Fatalf("victim registration %d: %d", i, res.StatusCode)
		}
	}
	if accepted != 3 {
		t.Fatalf("%d registrations for one address, want the limit of 3", accepted)
	}
	s.sink.WaitCount(t, 5+3, 20*time.Second)
	victim := 0
	for _, m := range s.sink.Messages() {
		if m.To[0] == "victim@example.org" {
			victim++
		}
	}
	if victim != 3 {
		t.Fatalf("the victim received %d emails, want 3", victim)
	}

	// Resends count against the address's limit too, while a fresh client
	// asking for a fresh address may resend.
	res = resendFrom(t, web, "m0", "198.51.100.200", "victim@example.org")
	if res.StatusCode != 429 {
		t.Fatalf("resend for the address over its limit: %d, want 429", res.StatusCode)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("resend for the address over its limit: Retry-After %q", res.Header.Get("Retry-After"))
	}
	if res := resendFrom(t, web, "m0", "198.51.100.201", "p0@example.org"); res.StatusCode != 202 {
		t.Fatalf("resend from a fresh client for a fresh address: %d, want 202", res.StatusCode)
	}
}
