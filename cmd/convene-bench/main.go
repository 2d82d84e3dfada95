// Command convene-bench measures Convene's throughput and latencies through
// the real processes, next to minimal baselines driven by the same load
// generator in the same run, and prints a table and, as its last line, one
// JSON object of figures. The baselines run as processes of their own, as
// convene's do: the command runs its own binary again with
// CONVENE_BENCH_ROLE=baseline-web or baseline-worker.
//
// Usage:
//
//	go run ./cmd/convene-bench            # the full run: a few minutes
//	go run ./cmd/convene-bench -quick     # scaled down, well under a minute (CI runs it)
//
// Flags:
//
//	-quick         scale every phase down (2 s load phases, 2,000 deliveries, …)
//	-convene PATH  the convene binary to run (default: build ./cmd/convene into a temp dir)
//	-keep          keep the temporary directory (process logs, Redis data) and print its path
//	-only PHASES   run only these phases (comma-separated), e.g. -only intake,delivery
//	-profile DIR   write CPU profiles of the convene processes into DIR
//	-limits on|off the intake limits of the intake, e2e, fanout and fanout100k
//	               phases: on (the default) at values the run never reaches, the
//	               clients' connections spread over 254 loopback source
//	               addresses; off as before the flag existed (both 0, every
//	               connection from 127.0.0.1), for comparison
//
// Each phase starts its own redis-server (on a unix socket in a temporary
// directory, AOF with appendfsync everysec, maxmemory-policy noeviction, as
// the README recommends for production) and its own SMTP sink, which accepts
// every message and records only its arrival time and its X-Convene-*
// headers. redis-server must be on PATH (./scripts/test.sh installs it).
//
// The phases that post registrations (intake, form, e2e, fanout,
// fanout100k) run `convene web` with both intake limits on, as users run
// it, at values the run never reaches (INTAKE_RATE_PER_IP=1000000 a
// minute, INTAKE_RATE_PER_EMAIL=10 an hour: every address registers
// once), and their clients' connections come from loopback source
// addresses 127.0.0.2–127.0.0.255, as real traffic comes from many
// (-limits off: both limits 0, from 127.0.0.1, except for the form phase,
// which always ran with them on). Any answer to a registration other than
// 201 (303 for the form) is counted and reported. The other phases'
// registrations only set the stage, with the limits off.
//
// The phases, and the JSON fields they fill (see BENCHMARKS.md):
//
//   - intake: registrations/s accepted by `convene web` at 64 concurrent
//     clients for 10 s, and the same load against a minimal handler that
//     validates, SET NX and asynq-Enqueue (intake_rps, intake_p99_ms,
//     baseline_enqueue_rps, baseline_enqueue_p99_ms);
//   - page: GET /m/{id}, the meeting's public HTML page, at 64 concurrent
//     clients for 10 s, for a meeting of 10,000 registrations (page_rps,
//     page_p99_ms);
//   - form: registrations/s through the HTML form, POST /m/{id} answered
//     303, at 64 concurrent clients for 10 s, with the intake limits on
//     and the connections spread over loopback source addresses
//     (form_intake_rps, and form_intake_ratio = form_intake_rps /
//     intake_rps when both ran);
//   - delivery: 20,000 queued confirmations drained by `convene worker`,
//     and by a minimal asynq worker with 8 persistent go-mail connections
//     (delivery_per_s, baseline_delivery_per_s);
//   - e2e: request start → confirmation at the sink, 500 registrations/s
//     for 10 s (e2e_p50_ms, e2e_p99_ms);
//   - fanout: one reminder to 10,000 confirmed participants, due time →
//     last reminder at the sink (fanout_10k_s);
//   - fanout100k: the same for 100,000 participants, with a worker
//     started for the reminder alone, whose peak resident memory (VmHWM)
//     is the other figure (fanout_100k_s, fanout_100k_worker_rss_mb); the
//     participants register through the API with no worker running, and
//     their confirmations are recorded in the ledger as sent (through the
//     store package) rather than sent, which would take most of a minute;
//     not in a -quick run;
//   - reminders: reminders due at scattered times, arrival − due time
//     (reminder_late_p50_ms, reminder_late_p99_ms, reminder_early_max_ms);
//   - memory: Redis used_memory growth per registration over 100,000
//     registrations (redis_bytes_per_registration).
//
// The command reports; it exits 0 whether or not the targets are met, and 1
// when a phase could not be measured at all (then no JSON line is printed).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "convene-bench:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: convene-bench [-quick] [-convene PATH] [-keep] [-only PHASES] [-profile DIR] [-limits on|off]

Runs the real convene processes and minimal baselines under one load generator
and prints a table and, as the last line, one JSON object of figures.

  -quick         scale every phase down (a run well under a minute; CI runs it)
  -convene PATH  the convene binary to run (default: go build ./cmd/convene into a temp dir)
  -keep          keep the temporary directory (process logs, Redis data) and print its path
  -only PHASES   run only these phases, comma-separated: intake,page,form,delivery,e2e,fanout,fanout100k,reminders,memory
                 (the others' figures print as 0; use it while optimising; -quick leaves out fanout100k)
  -profile DIR   write CPU profiles of the convene processes during the measured part of
                 the intake, page, form, delivery, e2e, fanout and fanout100k phases into DIR
                 (go tool pprof DIR/…), and the fan-out workers' heap profiles
  -limits on|off the intake limits of the intake, e2e, fanout and fanout100k phases (default on:
                 both on at values the run never reaches, connections from 254 loopback
                 addresses; off: both 0, connections from 127.0.0.1, as before this flag)
`

// sizes are the dimensions of one run.
type sizes struct {
	name string // "full", "quick" or "tiny"

	intakeClients int           // concurrent clients of the intake phase
	intakeWarmup  time.Duration // unmeasured load before each intake measurement
	intakeFor     time.Duration // measured intake load

	deliveries int // queued confirmations drained in the delivery phase

	e2eRate   float64       // registrations/s of the e2e phase
	e2eWarmup time.Duration // unmeasured paced load before it
	e2eFor    time.Duration // measured paced load

	fanout int // confirmed participants of the fan-out meeting

	fanout100k int // confirmed participants of the large fan-out meeting (0: no such phase)

	pageRegs int // registrations of the meeting whose page the page phase loads

	reminderMeetings int           // meetings with one extra reminder each
	reminderPer      int           // confirmed participants per meeting
	reminderSpread   time.Duration // the due times are scattered over this

	memoryRegs int // registrations of the memory phase

	setupClients int // concurrent clients that register participants for a phase
}

var (
	fullSizes = sizes{
		name:          "full",
		intakeClients: 64, intakeWarmup: 2 * time.Second, intakeFor: 10 * time.Second,
		deliveries: 20000,
		e2eRate:    500, e2eWarmup: time.Second, e2eFor: 10 * time.Second,
		fanout:           10000,
		fanout100k:       100000,
		pageRegs:         10000,
		reminderMeetings: 40, reminderPer: 10, reminderSpread: 6 * time.Second,
		memoryRegs:   100000,
		setupClients: 32,
	}
	quickSizes = sizes{
		name:          "quick",
		intakeClients: 64, intakeWarmup: 500 * time.Millisecond, intakeFor: 2 * time.Second,
		deliveries: 2000,
		e2eRate:    500, e2eWarmup: 500 * time.Millisecond, e2eFor: 2 * time.Second,
		fanout:           1000,
		pageRegs:         1000,
		reminderMeetings: 5, reminderPer: 10, reminderSpread: 3 * time.Second,
		memoryRegs:   5000,
		setupClients: 32,
	}
	// tinySizes keep the test of the command (with the race detector)
	// short; the figures mean nothing.
	tinySizes = sizes{
		name:          "tiny",
		intakeClients: 16, intakeWarmup: 200 * time.Millisecond, intakeFor: 500 * time.Millisecond,
		deliveries: 200,
		e2eRate:    100, e2eWarmup: 200 * time.Millisecond, e2eFor: 500 * time.Millisecond,
		fanout:           100,
		pageRegs:         100,
		reminderMeetings: 3, reminderPer: 4, reminderSpread: time.Second,
		memoryRegs:   300,
		setupClients: 16,
	}
)

// bench is one run of the benchmark.
type bench struct {
	sz     sizes
	binary string    // the convene binary
	dir    string    // the run's temporary directory
	log    io.Writer // progress lines
	phases int       // phase directories made so far

	only       map[string]bool // -only: the phases to run (nil: all)
	profileDir string          // -profile: where CPU profiles go ("": none)
	limits     bool            // -limits: the phases that post registrations run with the intake limits on
}

// run is the whole program: main only calls it, and the test calls it with
// its own arguments and output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convene-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	quick := fs.Bool("quick", false, "scale every phase down")
	tiny := fs.Bool("tiny", false, "smaller still: for the command's own test only")
	binary := fs.String("convene", "", "the convene binary (default: build ./cmd/convene)")
	keep := fs.Bool("keep", false, "keep the temporary directory")
	only := fs.String("only", "", "comma-separated phases to run (default: all)")
	profileDir := fs.String("profile", "", "write CPU profiles of the convene processes into this directory")
	limits := fs.String("limits", "on", "on or off: the intake limits of the phases that post registrations")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var err error
	b := &bench{sz: fullSizes, log: stderr}
	switch *limits {
	case "on":
		b.limits = true
	case "off":
	default:
		return usageError{fmt.Sprintf("-limits: %q is neither on nor off", *limits)}
	}
	if *only != "" {
		b.only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			if !slices.Contains(phaseNames, name) {
				return usageError{fmt.Sprintf("-only: unknown phase %q (phases: %s)", name, strings.Join(phaseNames, ","))}
			}
			b.only[name] = true
		}
	}
	if *profileDir != "" {
		if b.profileDir, err = filepath.Abs(*profileDir); err == nil {
			err = os.MkdirAll(b.profileDir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
	}
	switch {
	case *tiny:
		b.sz = tinySizes
	case *quick:
		b.sz = quickSizes
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("redis-server not found on PATH: run ./scripts/test.sh, which installs it (%v)", err)
	}
	// Unix socket paths are limited to about 100 bytes: keep this short.
	dir, err := os.MkdirTemp("", "cvb")
	if err != nil {
		return err
	}
	b.dir = dir
	if *keep {
		defer fmt.Fprintf(stderr, "kept %s (process logs and Redis data, one directory per phase)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if *binary != "" {
		b.binary = *binary
	} else if b.binary, err = buildConvene(ctx, dir, stderr); err != nil {
		return err
	}

	began, cpu := time.Now(), readHostCPU()
	fmt.Fprintf(stderr, "convene-bench: %s run, -limits %s, binary %s\n", b.sz.name, b.limitsFlag(), b.binary)
	r := b.measure(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	r.hostSteal = cpu.stealSince()
	r.print(stdout, b.sz, time.Since(began))
	if len(r.failed) > 0 {
		return fmt.Errorf("%d of the measurements failed: %s", len(r.failed), strings.Join(r.failed, "; "))
	}
	return r.printJSON(stdout)
}

// buildConvene builds the convene binary into dir with `go build` and
// returns its path. The package is named by its import path, so any
// directory inside the module will do.
func buildConvene(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	out := filepath.Join(dir, "convene")
	fmt.Fprintln(stderr, "convene-bench: go build convene/cmd/convene")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "convene/cmd/convene")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build convene/cmd/convene (run inside the module, or pass -convene PATH): %w", err)
	}
	return out, nil
}

// phaseNames are the phases, in the order they run.
var phaseNames = []string{"intake", "page", "form", "delivery", "e2e", "fanout", "fanout100k", "reminders", "memory"}

// measure runs every phase, each on its own Redis and sink; a phase that
// fails is recorded and the others still run.
func (b *bench) measure(ctx context.Context) *results {
	r := &results{limitsFlag: b.limitsFlag(), ran: map[string]bool{}, skipped: map[string]string{}}
	skip100k := ""
	if b.sz.fanout100k == 0 {
		skip100k = "not in a " + b.sz.name + " run"
	}
	steps := []struct {
		name string
		fn   func(context.Context, *results) error
		skip string // why this run leaves the phase out, or ""
	}{
		{"intake", b.intake, ""},
		{"page", b.page, ""},
		{"form", b.form, ""},
		{"delivery", b.delivery, ""},
		{"e2e", b.e2e, ""},
		{"fanout", b.fanoutPhase, ""},
		{"fanout100k", b.fanout100kPhase, skip100k},
		{"reminders", b.reminders, ""},
		{"memory", b.memory, ""},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		if b.only != nil && !b.only[s.name] {
			continue
		}
		if s.skip != "" {
			fmt.Fprintf(b.log, "== %s: skipped, %s\n", s.name, s.skip)
			r.skipped[s.name] = s.skip
			continue
		}
		start, cpu := time.Now(), readHostCPU()
		fmt.Fprintf(b.log, "== %s\n", s.name)
		if err := s.fn(ctx, r); err != nil {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(b.log, "   %s FAILED: %v\n", s.name, err)
			r.failed = append(r.failed, s.name+": "+err.Error())
			continue
		}
		r.ran[s.name] = true
		st := cpu.stealSince()
		fmt.Fprintf(b.log, "   %s done in %.1f s (CPU steal %s)\n", s.name, time.Since(start).Seconds(), cmp.Or(st, "unknown"))
		if st != "" {
			r.steal = append(r.steal, s.name+" "+st)
		}
	}
	r.derive()
	return r
}

// logf writes one progress line.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "   "+format+"\n", args...)
}
