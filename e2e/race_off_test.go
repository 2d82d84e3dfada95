//go:build !race

package e2e_test

// raceFlags is empty when the tests run without the race detector (as
// benchmarks do), so the processes are measured as they run in production.
var raceFlags = []string{}
