// Package metrics exposes Convene's Prometheus metrics: HTTP requests by
// route pattern and status, jobs by type and outcome, emails sent and failed
// by kind and reason, SMTP send duration, reminder lateness, registrations
// by outcome, and the asynq queues as read from an inspector at scrape time.
//
// New builds a Metrics on its own registry (never the global default one),
// and Handler serves it for GET /metrics. Every method is safe on a nil
// *Metrics and then does nothing, so handlers and jobs run unchanged
// without metrics; every method is safe for concurrent use.
//
// The metric names are a contract with the alert rules and the Grafana
// dashboard under deploy/: a test checks that every metric those files use
// is one this package registers.
package metrics
