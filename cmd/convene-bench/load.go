package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a keep-alive client that keeps up to conns idle
// connections to one host, so that every concurrent client reuses its own.
func newHTTPClient(conns int) *http.Client {
	return newHTTPClientDial(conns, (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
}

// newHTTPClientDial is newHTTPClient with its own way to dial.
func newHTTPClientDial(conns int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         dial,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

// load describes one run of the load generator: POST body(i) to url (or
// another method: GET with no body), for i = first, first+1, …, either from clients concurrent clients (closed
// loop: each sends its next request when the previous one is answered)
// until dur has passed or count requests were sent, or paced at rate
// requests/s for dur (open loop: each request starts at its time, whether
// or not earlier ones were answered).
type load struct {
	method      string // "": POST
	url         string
	body        func(i int) []byte // nil: no body
	contentType string             // of the body; "": application/json
	header      http.Header        // more request headers, or nil
	// want is the status that counts as success (0: 201 Created), and
	// check, when set, looks further at such an answer: a non-empty
	// description of what is wrong with it makes it count as a wrong
	// answer instead.
	want    int
	check   func(res *http.Response, answer []byte) string
	first   int
	clients int
	count   int
	dur     time.Duration
	rate    float64
	// onCreated, when set, is called with the start time and answer of
	// every request that succeeded.
	onCreated func(start time.Time, answer []byte)
}

// loadResult is what one run of the load generator saw.
type loadResult struct {
	want     int // the status that counts as success
	sent     int
	ok       int           // successes: answered want, and passed the check
	statuses map[int]int   // every other status, by status
	wrong    int           // answered want but failed the check
	errors   int           // transport errors (no answer)
	firstErr string        // the first error or unexpected answer
	latency  []float64     // ms of the successes, sorted
	elapsed  time.Duration // first request start → last answer
}

// rps returns the successes per second.
func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// failures returns how many requests did not succeed: answered another
// status, answered the wanted one wrongly, or not answered at all.
func (r loadResult) failures() int {
	n := r.wrong + r.errors
	for _, c := range r.statuses {
		n += c
	}
	return n
}

// problems describes the requests that did not succeed, or "".
func (r loadResult) problems() string {
	if r.errors == 0 && r.wrong == 0 && len(r.statuses) == 0 {
		return ""
	}
	var parts []string
	codes := make([]int, 0, len(r.statuses))
	for c := range r.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.statuses[c], c))
	}
	if r.wrong > 0 {
		parts = append(parts, fmt.Sprintf("%d×%d with a wrong answer", r.wrong, r.want))
	}
	if r.errors > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors", r.errors))
	}
	return strings.Join(parts, ", ") + " (first: " + r.firstErr + ")"
}

// summary is one line describing the run.
func (r loadResult) summary() string {
	done, not := "created", "not created"
	if r.want != http.StatusCreated {
		done, not = fmt.Sprintf("answered %d", r.want), "failed"
	}
	s := fmt.Sprintf("%d %s in %.2f s = %.0f/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		r.ok, done, r.elapsed.Seconds(), r.rps(), percentile(r.latency, 0.50), percentile(r.latency, 0.99), percentile(r.latency, 1))
	if p := r.problems(); p != "" {
		s += "; " + not + ": " + p
	}
	return s
}

// collector gathers the outcomes of concurrent requests.
type collector struct {
	mu  sync.Mutex
	res loadResult
}

func (c *collector) add(lat []float64, statuses map[int]int, wrong, errs int, firstErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.latency = append(c.res.latency, lat...)
	c.res.ok += len(lat)
	for s, n := range statuses {
		c.res.statuses[s] += n
	}
	c.res.wrong += wrong
	c.res.errors += errs
	if c.res.firstErr == "" {
		c.res.firstErr = firstErr
	}
}

// run drives the load and returns what it saw. Requests are sent with ctx:
// when it ends, the run ends.
func (l load) run(ctx context.Context, client *http.Client) loadResult {
	if l.want == 0 {
		l.want = http.StatusCreated
	}
	c := &collector{res: loadResult{want: l.want, statuses: map[int]int{}}}
	var sent atomic.Int64
	start := time.Now()
	if l.rate > 0 {
		n := int(math.Round(l.rate * l.dur.Seconds()))
		interval := float64(time.Second) / l.rate
		var wg sync.WaitGroup
		for i := range n {
			if d := time.Until(start.Add(time.Duration(float64(i) * interval))); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				break
			}
			sent.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.addOne(l.one(ctx, client, l.first+i))
			}()
		}
		wg.Wait()
	} else {
		deadline := start.Add(l.dur)
		var wg sync.WaitGroup
		for range l.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []float64
				statuses := map[int]int{}
				wrong, errs, firstErr := 0, 0, ""
				for ctx.Err() == nil && (l.dur == 0 || time.Now().Before(deadline)) {
					i := int(sent.Add(1) - 1)
					if l.count > 0 && i >= l.count {
						sent.Add(-1)
						break
					}
					ms, status, e := l.one(ctx, client, l.first+i)
					switch {
					case status == l.want && e == "":
						lat = append(lat, ms)
					case status == l.want:
						wrong++
					case status == 0:
						errs++
					default:
						statuses[status]++
					}
					if firstErr == "" {
						firstErr = e
					}
				}
				c.add(lat, statuses, wrong, errs, firstErr)
			}()
		}
		wg.Wait()
	}
	c.res.elapsed = time.Since(start)
	c.res.sent = int(sent.Load())
	slices.Sort(c.res.latency)
	client.CloseIdleConnections()
	return c.res
}

func (c *collector) addOne(ms float64, status int, firstErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case status == c.res.want && firstErr == "":
		c.res.latency = append(c.res.latency, ms)
		c.res.ok++
	case status == c.res.want:
		c.res.wrong++
	case status == 0:
		c.res.errors++
	default:
		c.res.statuses[status]++
	}
	if c.res.firstErr == "" {
		c.res.firstErr = firstErr
	}
}

// one sends request i and returns its latency in ms, the status (0 for a
// transport error) and, unless it succeeded, a description of what went
// wrong.
func (l load) one(ctx context.Context, client *http.Client, i int) (float64, int, string) {
	method := cmp.Or(l.method, http.MethodPost)
	var body io.Reader
	if l.body != nil {
		body = bytes.NewReader(l.body(i))
	}
	req, err := http.NewRequestWithContext(ctx, method, l.url, body)
	if err != nil {
		return 0, 0, err.Error()
	}
	for k, v := range l.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", cmp.Or(l.contentType, "application/json"))
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, 0, err.Error()
	}
	answer, err := io.ReadAll(res.Body)
	res.Body.Close()
	ms := float64(time.Since(start).Nanoseconds()) / 1e6
	if err != nil {
		return 0, 0, err.Error()
	}
	if res.StatusCode != l.want {
		return ms, res.StatusCode, fmt.Sprintf("%d %s", res.StatusCode, abbreviate(answer))
	}
	if l.check != nil {
		if wrong := l.check(res, answer); wrong != "" {
			return ms, res.StatusCode, fmt.Sprintf("%d but %s", res.StatusCode, wrong)
		}
	}
	if l.onCreated != nil {
		l.onCreated(start, answer)
	}
	return ms, res.StatusCode, ""
}

// abbreviate returns an answer's body for an error message: trimmed, and
// cut after 300 bytes (an HTML page is long).
func abbreviate(answer []byte) string {
	answer = bytes.TrimSpace(answer)
	if len(answer) > 300 {
		return string(answer[:300]) + "…"
	}
	return string(answer)
}

// registrationBody returns a body maker for unique registrations: the
// address of request i is <prefix><i>@example.org.
func registrationBody(prefix string) func(int) []byte {
	return func(i int) []byte {
		return fmt.Appendf(nil, `{"name":"Participant %s%d","email":"%s%d@example.org"}`, prefix, i, prefix, i)
	}
}

// percentile returns the nearest-rank p-quantile of sorted values (p = 1:
// the maximum), or 0 for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// apiCall makes an organiser API call with a JSON body and decodes the
// JSON answer.
func apiCall(ctx context.Context, client *http.Client, method, url, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+organiserToken)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s %s: %d, answer is not JSON: %s", method, url, res.StatusCode, raw)
	}
	return res.StatusCode, out, nil
}
