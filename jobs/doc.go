// Package jobs holds Convene's background work on asynq: the task types and
// their ID-only payloads, the constructors that give each task its queue,
// TaskID and retry policy, the handlers that reload state and act
// idempotently, the worker's asynq configuration, and the scheduler that
// enqueues periodic work.
//
// Handlers depend on small interfaces declared here (Store, Sender,
// Renderer, Enqueuer); cmd/convene passes the concrete store, mailer,
// templates and asynq client.
package jobs
