package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's helper processes
// (the baseline worker), as the command's own binary does.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// jsonFields are the fields of the last line, as the issue that asked for
// the command lists them.
var jsonFields = []string{
	"intake_rps", "intake_p99_ms",
	"baseline_enqueue_rps", "baseline_enqueue_p99_ms",
	"delivery_per_s", "baseline_delivery_per_s",
	"e2e_p50_ms", "e2e_p99_ms",
	"fanout_10k_s",
	"reminder_late_p50_ms", "reminder_late_p99_ms", "reminder_early_max_ms",
	"redis_bytes_per_registration",
	"page_rps", "page_p99_ms", "form_intake_rps", "form_intake_ratio",
	"fanout_100k_s", "fanout_100k_worker_rss_mb",
}

// TestQuickRunPrintsFigures runs the benchmark, scaled down further than
// -quick, and checks that it runs to the end and that its last line is one
// JSON object with exactly the figures' fields, all numbers. It checks no
// timing: the figures of so small a run mean nothing.
func TestQuickRunPrintsFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"-quick", "-tiny"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	var got map[string]any
	dec := json.NewDecoder(strings.NewReader(last))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the last line is not a JSON object: %v\n%s", err, stdout.String())
	}
	var keys []string
	for k, v := range got {
		keys = append(keys, k)
		if _, ok := v.(json.Number); !ok {
			t.Errorf("%s = %v (%T), want a number", k, v, v)
		}
	}
	slices.Sort(keys)
	want := slices.Sorted(slices.Values(jsonFields))
	if !slices.Equal(keys, want) {
		t.Errorf("fields %v\nwant   %v", keys, want)
	}
	if !strings.Contains(stdout.String(), "FIGURE") {
		t.Errorf("no table before the JSON line:\n%s", stdout.String())
	}
	t.Logf("stdout:\n%s", stdout.String())
}

func TestBadFlagIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-limits", "maybe"}, {"-only", "fanout1m"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if _, ok := err.(usageError); !ok {
			t.Errorf("run %q: %v (%T), want a usageError", args, err, err)
		}
		if stdout.Len() != 0 {
			t.Errorf("run %q: stdout: %q", args, stdout.String())
		}
	}
}
