// Command convene runs Convene's processes: web, worker, scheduler, dev
// (all three in one process) and the ops commands. See the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"convene/config"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The processes keep little in memory (a few tens of MB under
		// load) and allocate a lot per request and per email: collecting
		// less often buys throughput for memory there is plenty of.
		// GOGC, when set, decides.
		debug.SetGCPercent(defaultGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// defaultGOGC is the garbage collector's target (GOGC) unless the GOGC
// variable sets another.
const defaultGOGC = 400

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: convene <command>

commands:
  web         the HTTP API on $PORT
  worker      the job worker (sends every email)
  scheduler   the periodic job scheduler
  dev         web, worker and scheduler in one process, with local defaults
  ops …       operator commands (convene ops help)
`

// exitCode prints err and returns the process exit code: 0 on success, 2 for
// a bad configuration or command line, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "convene:", err)
	var ce *config.Error
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return 2
	}
	return 1
}
