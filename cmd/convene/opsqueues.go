package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hibiken/asynq"

	"convene/jobs"
)

// queueStat is one queue's counts, as `convene ops queues --json` and
// `GET /v1/ops/queues` show them (SPEC).
type queueStat struct {
	Name      string `json:"name"`
	Size      int    `json:"size"`
	Pending   int    `json:"pending"`
	Active    int    `json:"active"`
	Scheduled int    `json:"scheduled"`
	Retry     int    `json:"retry"`
	Archived  int    `json:"archived"`
	Completed int    `json:"completed"`
	Processed int    `json:"processed"` // today (UTC), succeeded and failed
	Failed    int    `json:"failed"`    // today (UTC)
	LatencyMS int64  `json:"latency_ms"`
	Paused    bool   `json:"paused"`
}

// queueStats returns the counts of every queue asynq knows, Convene's
// queues first in priority order. A queue is known once a task was
// enqueued to it: a fresh Redis has none.
func queueStats(ctx context.Context, inspector *asynq.Inspector) ([]queueStat, error) {
	names, err := knownQueues(inspector)
	if err != nil {
		return nil, err
	}
	stats := make([]queueStat, 0, len(names))
	for _, q := range names {
		// The Inspector takes no context: check it between queues.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := inspector.GetQueueInfo(q)
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", q, err)
		}
		stats = append(stats, queueStat{
			Name:      info.Queue,
			Size:      info.Size,
			Pending:   info.Pending,
			Active:    info.Active,
			Scheduled: info.Scheduled,
			Retry:     info.Retry,
			Archived:  info.Archived,
			Completed: info.Completed,
			Processed: info.Processed,
			Failed:    info.Failed,
			LatencyMS: info.Latency.Milliseconds(),
			Paused:    info.Paused,
		})
	}
	return stats, nil
}

// knownQueues returns the queues asynq knows, by descending weight in
// jobs.Queues, then by name (asynq returns them in no order).
func knownQueues(inspector *asynq.Inspector) ([]string, error) {
	names, err := inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(jobs.Queues[b], jobs.Queues[a]), cmp.Compare(a, b))
	})
	return names, nil
}

// pickQueues returns the queues a command works on: all that asynq knows,
// or only name when it is given. An unknown name is an error.
func pickQueues(inspector *asynq.Inspector, name string) ([]string, error) {
	names, err := knownQueues(inspector)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return names, nil
	}
	if !slices.Contains(names, name) {
		known := strings.Join(names, ", ")
		if known == "" {
			known = "none yet"
		}
		return nil, fmt.Errorf("queue %q not found (asynq knows a queue once a task was enqueued to it; known: %s)", name, known)
	}
	return []string{name}, nil
}
