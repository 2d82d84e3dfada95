// Package e2e holds Convene's end-to-end tests and benchmarks: they build
// the real convene binary, start its processes against a private
// redis-server and an in-process SMTP server, and drive them over HTTP as a
// user would.
package e2e
