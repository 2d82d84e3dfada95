package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"convene"
)

const namespace = "convene"

// Registration outcomes, as the handlers report them.
var registrationOutcomes = []string{"created_confirmed", "created_waitlisted", "existing", "rejected", "limited", "honeypot", "unavailable"}

// Reasons a send can fail, as the jobs report them.
var emailReasons = []string{convene.ReasonTemporary, convene.ReasonPermanent, convene.ReasonNetwork, convene.ReasonUnknown}

// Buckets, in seconds. Jobs and SMTP sends reach the SMTP timeout and
// beyond; reminder lateness should stay well below a second, so it is fine
// there, and 0 is a bucket of its own: on time (or early, see
// ReminderLateness).
var (
	jobBuckets      = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	smtpBuckets     = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	latenessBuckets = []float64{0, .01, .025, .05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 30, 60}
)

// Metrics holds Convene's metrics and the registry they are registered on.
// The zero value is not usable; a nil *Metrics is, and records nothing.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	jobsProcessed *prometheus.CounterVec
	jobDuration   *prometheus.HistogramVec

	emailsSent     *prometheus.CounterVec
	emailsFailed   *prometheus.CounterVec
	emailsUnknown  *prometheus.CounterVec
	smtpDuration   prometheus.Histogram
	reminderLate   prometheus.Histogram
	remindersEarly prometheus.Counter

	registrations *prometheus.CounterVec
}

// New registers Convene's metrics, the Go and process collectors, and —
// when inspector is non-nil — the queue collector, on a new registry.
func New(inspector QueueInspector) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		jobsProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "jobs_processed_total",
			Help: "Jobs run by this worker, by task type and outcome (ok, failed_retry, failed_final, busy).",
		}, []string{"type", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "job_duration_seconds",
			Help:    "Time a job ran, whatever its outcome, by task type.",
			Buckets: jobBuckets,
		}, []string{"type"}),
		emailsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "emails_sent_total",
			Help: "Emails handed over to the mail server, by kind.",
		}, []string{"kind"}),
		emailsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "emails_failed_total",
			Help: "Failed email sends, by kind and reason (temporary, permanent, network, unknown_outcome).",
		}, []string{"kind", "reason"}),
		emailsUnknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "emails_unknown_outcome_total",
			Help: "Sends whose outcome was unknown (the connection broke after the body), resent later with the same Message-ID, by kind.",
		}, []string{"kind"}),
		smtpDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "smtp_send_duration_seconds",
			Help:    "Time to hand one email over to the mail server.",
			Buckets: smtpBuckets,
		}),
		reminderLate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "reminder_lateness_seconds",
			Help:    "Time from a reminder's due time to its send; early sends count as 0 here and in convene_reminders_early_total.",
			Buckets: latenessBuckets,
		}),
		remindersEarly: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "reminders_early_total",
			Help: "Reminders sent before their due time.",
		}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "registrations_total",
			Help: "Registration requests, JSON and form, by outcome (created_confirmed, created_waitlisted, existing, rejected, limited, honeypot, unavailable).",
		}, []string{"outcome"}),
	}

	// Series that alerts divide by or take the increase of exist from the
	// start at 0, so the first failure after a restart is an increase.
	for _, o := range registrationOutcomes {
		m.registrations.WithLabelValues(o)
	}
	for _, k := range convene.EmailKinds {
		m.emailsSent.WithLabelValues(k)
		m.emailsUnknown.WithLabelValues(k)
		for _, r := range emailReasons {
			m.emailsFailed.WithLabelValues(k, r)
		}
	}

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.jobsProcessed, m.jobDuration,
		m.emailsSent, m.emailsFailed, m.emailsUnknown, m.smtpDuration,
		m.reminderLate, m.remindersEarly,
		m.registrations,
	)
	if inspector != nil {
		m.registry.MustRegister(newQueueCollector(inspector))
	}
	m.handler = promhttp.InstrumentMetricHandler(m.registry, promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A collector that fails leaves out its metrics, not the others.
		ErrorHandling: promhttp.ContinueOnError,
		// Each scrape reads Redis through the inspector: bound how many
		// run at once.
		MaxRequestsInFlight: 4,
	}))
	return m
}

// Handler returns the promhttp handler serving the registry, for GET
// /metrics. On a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Registry returns the registry the metrics are registered on, for tests
// and for registering more collectors. It is nil on a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// HTTP records one answered request. route is the ServeMux pattern that
// matched ("POST /v1/meetings/{id}/registrations"), never the raw path,
// which would hold tokens and grow without bound; "" (no pattern matched)
// is recorded as "unmatched".
func (m *Metrics) HTTP(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Job records one run of a job of the given task type; outcome is ok,
// failed_retry, failed_final or busy.
func (m *Metrics) Job(taskType, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobsProcessed.WithLabelValues(taskType, outcome).Inc()
	m.jobDuration.WithLabelValues(taskType).Observe(d.Seconds())
}

// EmailSent records an email of the given kind handed over to the mail
// server, and how long the SMTP send took.
func (m *Metrics) EmailSent(kind string, smtp time.Duration) {
	if m == nil {
		return
	}
	m.emailsSent.WithLabelValues(kind).Inc()
	m.smtpDuration.Observe(smtp.Seconds())
}

// EmailFailed records a failed send of an email of the given kind; reason
// is one of convene's Reason* constants.
func (m *Metrics) EmailFailed(kind, reason string) {
	if m == nil {
		return
	}
	m.emailsFailed.WithLabelValues(kind, reason).Inc()
}

// UnknownOutcome records a send whose outcome was unknown (the connection
// was lost after the body), to be resent later with the same Message-ID.
func (m *Metrics) UnknownOutcome(kind string) {
	if m == nil {
		return
	}
	m.emailsUnknown.WithLabelValues(kind).Inc()
}

// ReminderLateness records how late a reminder went out: sent − due. An
// early send (d < 0) counts in convene_reminders_early_total and as 0 in
// the histogram, whose _sum would otherwise go down and no longer be a
// counter that rate() can read.
func (m *Metrics) ReminderLateness(d time.Duration) {
	if m == nil {
		return
	}
	if d < 0 {
		m.remindersEarly.Inc()
		d = 0
	}
	m.reminderLate.Observe(d.Seconds())
}

// Registration records the outcome of one registration request:
// created_confirmed, created_waitlisted, existing, rejected, limited (an
// intake limit), honeypot (a robot filled the form's hidden field) or
// unavailable.
func (m *Metrics) Registration(outcome string) {
	if m == nil {
		return
	}
	m.registrations.WithLabelValues(outcome).Inc()
}
