// Package handlers is Convene's HTTP API (SPEC §3): the organiser API, the
// public intake and the ops endpoints. NewServer builds the whole
// http.Handler; routes.go lists every route.
//
// Handlers depend on small interfaces declared here (Store, Queue); the
// concrete store and job queue are passed in by cmd/convene.
package handlers
