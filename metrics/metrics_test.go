package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"convene"
	"convene/metrics"
)

// fakeInspector stands in for *asynq.Inspector: fixed queues, and errors
// on demand.
type fakeInspector struct {
	mu        sync.Mutex
	queues    []string
	infos     map[string]*asynq.QueueInfo
	queuesErr error
	infoErr   map[string]error
}

func (f *fakeInspector) Queues() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queuesErr != nil {
		return nil, f.queuesErr
	}
	return slices.Clone(f.queues), nil
}

func (f *fakeInspector) GetQueueInfo(queue string) (*asynq.QueueInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.infoErr[queue]; err != nil {
		return nil, err
	}
	info, ok := f.infos[queue]
	if !ok {
		return nil, errors.New("queue not found")
	}
	c := *info
	return &c, nil
}

var _ metrics.QueueInspector = (*asynq.Inspector)(nil)

type bundle struct {
	m         *metrics.Metrics
	inspector *fakeInspector
}

// setup returns Metrics reading a fake inspector with two queues.
func setup(t *testing.T) bundle {
	t.Helper()
	in := &fakeInspector{
		queues: []string{"critical", "default"},
		infos: map[string]*asynq.QueueInfo{
			"critical": {
				Queue: "critical", Pending: 3, Active: 2, Scheduled: 5, Retry: 7, Archived: 11,
				Completed: 13, Aggregating: 1, Size: 29, Latency: 1500 * time.Millisecond,
				Paused: true, ProcessedTotal: 100, FailedTotal: 9,
			},
			"default": {Queue: "default", Pending: 1, Size: 1, Latency: 0, ProcessedTotal: 4},
		},
		infoErr: map[string]error{},
	}
	return bundle{m: metrics.New(in), inspector: in}
}

// exerciseAll calls every recording method once, so every metric family has
// a series.
func exerciseAll(m *metrics.Metrics) {
	m.HTTP("POST /v1/meetings/{id}/registrations", http.StatusCreated, 12*time.Millisecond)
	m.Job("email:send", "ok", 80*time.Millisecond)
	m.EmailSent(convene.EmailConfirmation, 40*time.Millisecond)
	m.EmailFailed(convene.EmailReminder, convene.ReasonPermanent)
	m.UnknownOutcome(convene.EmailReminder)
	m.ReminderLateness(250 * time.Millisecond)
	m.ReminderLateness(-time.Second)
	m.Registration("created_confirmed")
}

// series is one gathered sample: its labels and its value (a histogram's
// value is its sample count).
type series struct {
	labels map[string]string
	value  float64
	sum    float64
}

// family is one gathered metric family.
type family struct {
	typ    string
	series []series
}

func gather(t *testing.T, g prometheus.Gatherer) map[string]family {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]family{}
	for _, mf := range mfs {
		f := family{typ: mf.GetType().String()}
		for _, m := range mf.GetMetric() {
			s := series{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
				s.sum = m.GetHistogram().GetSampleSum()
			}
			f.series = append(f.series, s)
		}
		out[mf.GetName()] = f
	}
	return out
}

// value returns the value of the series of name whose labels include want.
func value(t *testing.T, fams map[string]family, name string, want map[string]string) (float64, bool) {
	t.Helper()
next:
	for _, s := range fams[name].series {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestEveryMetricExistsWithItsLabels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	exerciseAll(b.m)
	fams := gather(t, b.m.Registry())

	tests := []struct {
		name   string
		typ    string
		labels []string
	}{
		{"convene_http_requests_total", "COUNTER", []string{"route", "status"}},
		{"convene_http_request_duration_seconds", "HISTOGRAM", []string{"route"}},
		{"convene_jobs_processed_total", "COUNTER", []string{"outcome", "type"}},
		{"convene_job_duration_seconds", "HISTOGRAM", []string{"type"}},
		{"convene_emails_sent_total", "COUNTER", []string{"kind"}},
		{"convene_emails_failed_total", "COUNTER", []string{"kind", "reason"}},
		{"convene_emails_unknown_outcome_total", "COUNTER", []string{"kind"}},
		{"convene_smtp_send_duration_seconds", "HISTOGRAM", nil},
		{"convene_reminder_lateness_seconds", "HISTOGRAM", nil},
		{"convene_reminders_early_total", "COUNTER", nil},
		{"convene_registrations_total", "COUNTER", []string{"outcome"}},
		{"convene_queue_tasks", "GAUGE", []string{"queue", "state"}},
		{"convene_queue_size", "GAUGE", []string{"queue"}},
		{"convene_queue_latency_seconds", "GAUGE", []string{"queue"}},
		{"convene_queue_paused", "GAUGE", []string{"queue"}},
		{"convene_queue_processed_total", "COUNTER", []string{"queue"}},
		{"convene_queue_failed_total", "COUNTER", []string{"queue"}},
		{"convene_queue_scrape_errors_total", "COUNTER", nil},
		{"go_goroutines", "GAUGE", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, ok := fams[tt.name]
			if !ok {
				t.Fatalf("%s not gathered", tt.name)
			}
			if f.typ != tt.typ {
				t.Errorf("%s is a %s, want %s", tt.name, f.typ, tt.typ)
			}
			if len(f.series) == 0 {
				t.Fatalf("%s has no series", tt.name)
			}
			for _, s := range f.series {
				var got []string
				for k := range s.labels {
					got = append(got, k)
				}
				sort.Strings(got)
				if !slices.Equal(got, tt.labels) {
					t.Errorf("%s has labels %v, want %v", tt.name, got, tt.labels)
				}
			}
		})
	}
}

func TestRecording(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record func(*metrics.Metrics)
		metric string
		labels map[string]string
		want   float64
	}{
		{
			name:   "request counted under its route pattern and status",
			record: func(m *metrics.Metrics) { m.HTTP("GET /v1/meetings/{id}", 404, time.Millisecond) },
			metric: "convene_http_requests_total",
			labels: map[string]string{"route": "GET /v1/meetings/{id}", "status": "404"},
			want:   1,
		},
		{
			name:   "request without a pattern counted as unmatched",
			record: func(m *metrics.Metrics) { m.HTTP("", 404, time.Millisecond) },
			metric: "convene_http_requests_total",
			labels: map[string]string{"route": "unmatched", "status": "404"},
			want:   1,
		},
		{
			name:   "request duration observed under its route",
			record: func(m *metrics.Metrics) { m.HTTP("GET /healthz", 200, time.Millisecond) },
			metric: "convene_http_request_duration_seconds",
			labels: map[string]string{"route": "GET /healthz"},
			want:   1,
		},
		{
			name: "jobs counted by type and outcome",
			record: func(m *metrics.Metrics) {
				m.Job("email:send", "failed_retry", time.Second)
				m.Job("email:send", "failed_retry", time.Second)
				m.Job("email:send", "ok", time.Second)
			},
			metric: "convene_jobs_processed_total",
			labels: map[string]string{"type": "email:send", "outcome": "failed_retry"},
			want:   2,
		},
		{
			name:   "sent email observes the SMTP duration",
			record: func(m *metrics.Metrics) { m.EmailSent("digest", 2*time.Second) },
			metric: "convene_smtp_send_duration_seconds",
			want:   1,
		},
		{
			name:   "failed email counted by kind and reason",
			record: func(m *metrics.Metrics) { m.EmailFailed("promoted", convene.ReasonNetwork) },
			metric: "convene_emails_failed_total",
			labels: map[string]string{"kind": "promoted", "reason": "network"},
			want:   1,
		},
		{
			name:   "permanent failures exist at 0 before the first one",
			record: func(*metrics.Metrics) {},
			metric: "convene_emails_failed_total",
			labels: map[string]string{"kind": "confirmation", "reason": "permanent"},
			want:   0,
		},
		{
			name:   "unknown outcome counted by kind",
			record: func(m *metrics.Metrics) { m.UnknownOutcome("updated") },
			metric: "convene_emails_unknown_outcome_total",
			labels: map[string]string{"kind": "updated"},
			want:   1,
		},
		{
			name: "early reminder counted as early",
			record: func(m *metrics.Metrics) {
				m.ReminderLateness(-3 * time.Second)
				m.ReminderLateness(time.Second)
			},
			metric: "convene_reminders_early_total",
			want:   1,
		},
		{
			name: "early and late reminders both observed",
			record: func(m *metrics.Metrics) {
				m.ReminderLateness(-3 * time.Second)
				m.ReminderLateness(time.Second)
			},
			metric: "convene_reminder_lateness_seconds",
			want:   2,
		},
		{
			name:   "registration counted by outcome",
			record: func(m *metrics.Metrics) { m.Registration("created_waitlisted") },
			metric: "convene_registrations_total",
			labels: map[string]string{"outcome": "created_waitlisted"},
			want:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New(nil)
			tt.record(m)
			got, ok := value(t, gather(t, m.Registry()), tt.metric, tt.labels)
			if !ok {
				t.Fatalf("no %s series with %v", tt.metric, tt.labels)
			}
			if got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

func TestReminderLatenessSumStaysACounter(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	m.ReminderLateness(500 * time.Millisecond)
	m.ReminderLateness(-10 * time.Second)
	f := gather(t, m.Registry())["convene_reminder_lateness_seconds"]
	if len(f.series) != 1 {
		t.Fatalf("got %d series, want 1", len(f.series))
	}
	// An early send would make _sum go down, which rate() reads as a reset.
	if got := f.series[0].sum; got != 0.5 {
		t.Errorf("sum = %v, want 0.5 (the early send counts as 0)", got)
	}
}

func TestWithoutInspectorNoQueueMetrics(t *testing.T) {
	t.Parallel()
	fams := gather(t, metrics.New(nil).Registry())
	for name := range fams {
		if strings.HasPrefix(name, "convene_queue_") {
			t.Errorf("%s gathered without an inspector", name)
		}
	}
	if _, ok := fams["process_cpu_seconds_total"]; !ok {
		t.Error("process collector not registered")
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	exerciseAll(m)
	m.HTTP("", 500, 0)
	if r := m.Registry(); r != nil {
		t.Errorf("Registry() = %v, want nil", r)
	}
	h := m.Handler()
	if h == nil {
		t.Fatal("Handler() = nil; serving it would panic")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status = %d, want 404", rec.Code)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				exerciseAll(b.m)
			}
		})
		wg.Go(func() {
			if _, err := b.m.Registry().Gather(); err != nil {
				t.Errorf("gather: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ := value(t, gather(t, b.m.Registry()), "convene_registrations_total", map[string]string{"outcome": "created_confirmed"})
	if got != 800 {
		t.Errorf("registrations = %v, want 800", got)
	}
}

func TestHandlerServesPrometheusText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.m.HTTP("GET /healthz", http.StatusOK, 3*time.Millisecond)

	srv := httptest.NewServer(b.m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body:\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain…", ct)
	}
	for _, want := range []string{
		`convene_http_requests_total{route="GET /healthz",status="200"} 1`,
		`convene_queue_tasks{queue="critical",state="archived"} 11`,
		"# TYPE convene_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q; body:\n%s", want, body)
		}
	}
}
