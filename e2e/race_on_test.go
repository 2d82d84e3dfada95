//go:build race

package e2e_test

// raceFlags builds convene with the race detector when the tests run with it.
var raceFlags = []string{"-race"}
