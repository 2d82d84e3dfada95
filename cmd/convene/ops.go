package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene"
	"convene/jobs"
	"convene/store"
)

const opsUsage = `usage: convene ops <command> [flags]

commands:
  queues                       per queue: size, pending, active, scheduled, retry, archived,
                               completed, processed and failed today, latency, paused
  failed [--queue Q] [--limit N]
                               archived and retrying tasks with their last error, never a
                               payload: per queue the archived (oldest first), then the
                               retrying (next to run first); at most N, 100 by default
  retry ID|--all [--queue Q]   run an archived or retrying task now; --all: every archived
                               task (only queue Q's with --queue)
  delete ID [--queue Q]        delete a pending, scheduled, retrying or archived task
  pause QUEUE                  workers take no new task from QUEUE until it is unpaused
  unpause QUEUE                workers take tasks from QUEUE again
  digest [--organiser EMAIL]   send the organiser digests now (the same rules as a tick:
                               only what changed since each organiser's previous digest)
  help                         this text

Every command but digest and help takes --json: one JSON document on stdout, for scripts.
A task is found in every queue unless --queue names one.
Exit status: 0 done, 1 failed (Redis unreachable, no such task or queue), 2 bad command line.
`

// runOps runs an operator command against the configured Redis.
func runOps(ctx context.Context, args []string, rdb redis.UniversalClient, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, opsUsage)
		return usageError{"ops: no command given"}
	}
	switch args[0] {
	case "digest":
		fs := flag.NewFlagSet("ops digest", flag.ContinueOnError)
		fs.SetOutput(stderr)
		organiser := fs.String("organiser", "", "send only this organiser's digest")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err.Error()}
		}
		orgID := ""
		if *organiser != "" {
			addr, err := convene.ParseEmail(*organiser)
			if err != nil {
				return usageError{"ops digest: --organiser: " + convene.ErrorMessage(err)}
			}
			orgID = store.OrganiserID(addr)
		}
		task, err := jobs.NewDigestTickTask(time.Now().Truncate(time.Second), orgID)
		if err != nil {
			return err
		}
		client := asynq.NewClientFromRedisClient(rdb)
		defer client.Close()
		info, err := client.EnqueueContext(ctx, task)
		if err != nil {
			return fmt.Errorf("ops digest: %w", err)
		}
		fmt.Fprintf(stdout, "digest enqueued: task %s\n", info.ID)
		return nil
	case "queues", "failed", "retry", "delete", "pause", "unpause":
		// The Inspector shares the process's client: it must not be
		// closed (its Close refuses, with an error, anyway).
		o := opsCmd{
			name:      args[0],
			inspector: asynq.NewInspectorFromRedisClient(rdb),
			stdout:    stdout,
			stderr:    stderr,
		}
		var err error
		switch o.name {
		case "queues":
			err = o.queues(ctx, args[1:])
		case "failed":
			err = o.failed(ctx, args[1:])
		case "retry":
			err = o.retry(ctx, args[1:])
		case "delete":
			err = o.delete(ctx, args[1:])
		case "pause":
			err = o.pause(args[1:], true)
		case "unpause":
			err = o.pause(args[1:], false)
		}
		var ue usageError
		if err != nil && !errors.As(err, &ue) {
			err = fmt.Errorf("ops %s: %w", o.name, err)
		}
		return err
	case "help", "-h", "--help":
		fmt.Fprint(stdout, opsUsage)
		return nil
	}
	fmt.Fprint(stderr, opsUsage)
	return usageError{fmt.Sprintf("ops: unknown command %q", args[0])}
}

// opsCmd is one run of an ops command that works on the queues.
type opsCmd struct {
	name      string
	inspector *asynq.Inspector
	stdout    io.Writer
	stderr    io.Writer
	asJSON    bool
}

// flags returns the command's flag set, with --json. synopsis is the
// command line shown on a parse error.
func (o *opsCmd) flags(synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("ops "+o.name, flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	fs.Usage = func() {
		fmt.Fprintf(o.stderr, "usage: convene ops %s %s\n", o.name, synopsis)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON document, for scripts")
	return fs
}

// parse parses flags wherever they stand among the arguments (the flag
// package stops at the first other argument, and `retry ID --queue Q`
// reads naturally), and checks the number of the others.
func (o *opsCmd) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int, argName string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{fmt.Sprintf("ops %s: %v", o.name, err)}
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			rest = append(rest, left...)
			break
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
	switch {
	case len(rest) < minArgs:
		fs.Usage()
		return nil, usageError{fmt.Sprintf("ops %s: missing %s", o.name, argName)}
	case len(rest) > maxArgs:
		fs.Usage()
		return nil, usageError{fmt.Sprintf("ops %s: unexpected argument %q", o.name, rest[maxArgs])}
	}
	return rest, nil
}

func (o *opsCmd) json(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows aligned in columns under a header.
func (o *opsCmd) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(o.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (o *opsCmd) queues(ctx context.Context, args []string) error {
	fs := o.flags("[--json]")
	if _, err := o.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	stats, err := queueStats(ctx, o.inspector)
	if err != nil {
		return err
	}
	if o.asJSON {
		return o.json(struct {
			Queues []queueStat `json:"queues"`
		}{stats})
	}
	if len(stats) == 0 {
		fmt.Fprintln(o.stdout, "no queues yet (asynq knows a queue once a task was enqueued to it)")
		return nil
	}
	rows := make([][]string, 0, len(stats))
	for _, s := range stats {
		paused := "no"
		if s.Paused {
			paused = "PAUSED"
		}
		rows = append(rows, []string{s.Name, itoa(s.Size), itoa(s.Pending), itoa(s.Active), itoa(s.Scheduled),
			itoa(s.Retry), itoa(s.Archived), itoa(s.Completed), itoa(s.Processed), itoa(s.Failed),
			strconv.FormatInt(s.LatencyMS, 10), paused})
	}
	return o.table([]string{"QUEUE", "SIZE", "PENDING", "ACTIVE", "SCHEDULED", "RETRY", "ARCHIVED", "COMPLETED",
		"PROCESSED_TODAY", "FAILED_TODAY", "LATENCY_MS", "PAUSED"}, rows)
}

// failedTask is an archived or retrying task as `ops failed` shows it:
// never its payload.
type failedTask struct {
	Queue         string    `json:"queue"`
	State         string    `json:"state"` // archived or retry
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Retried       int       `json:"retried"`
	MaxRetry      int       `json:"max_retry"`
	LastError     string    `json:"last_error"`
	LastFailedAt  time.Time `json:"last_failed_at,omitzero"`
	NextProcessAt time.Time `json:"next_process_at,omitzero"` // retry only
}

func (o *opsCmd) failed(ctx context.Context, args []string) error {
	fs := o.flags("[--queue Q] [--limit N] [--json]")
	queue := fs.String("queue", "", "only this queue's tasks")
	limit := fs.Int("limit", 100, "show at most this many tasks")
	if _, err := o.parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *limit < 1 {
		return usageError{fmt.Sprintf("ops failed: --limit %d: must be at least 1", *limit)}
	}
	queues, err := pickQueues(o.inspector, *queue)
	if err != nil {
		return err
	}
	tasks := []failedTask{}
	total := 0
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := o.inspector.GetQueueInfo(q)
		if err != nil {
			return fmt.Errorf("queue %s: %w", q, err)
		}
		total += info.Archived + info.Retry
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			o.inspector.ListArchivedTasks, o.inspector.ListRetryTasks,
		} {
			left := *limit - len(tasks)
			if left <= 0 {
				break
			}
			infos, err := list(q, asynq.PageSize(left), asynq.Page(1))
			if err != nil {
				return fmt.Errorf("queue %s: %w", q, err)
			}
			for _, t := range infos {
				tasks = append(tasks, failedTask{
					Queue: t.Queue, State: t.State.String(), ID: t.ID, Type: t.Type,
					Retried: t.Retried, MaxRetry: t.MaxRetry, LastError: t.LastErr,
					LastFailedAt: utc(t.LastFailedAt), NextProcessAt: utc(t.NextProcessAt),
				})
			}
		}
	}
	if o.asJSON {
		return o.json(struct {
			Tasks []failedTask `json:"tasks"`
			Total int          `json:"total"` // archived + retry in those queues; more than len(tasks) when --limit cut
		}{tasks, total})
	}
	if len(tasks) == 0 {
		fmt.Fprintln(o.stdout, "no failed tasks")
		return nil
	}
	rows := make([][]string, 0, len(tasks))
	for _, t := range tasks {
		rows = append(rows, []string{t.Queue, t.State, t.ID, t.Type, itoa(t.Retried) + "/" + itoa(t.MaxRetry),
			timeCell(t.LastFailedAt), timeCell(t.NextProcessAt), oneLine(t.LastError, 120)})
	}
	if err := o.table([]string{"QUEUE", "STATE", "ID", "TYPE", "RETRIED", "LAST_FAILED", "NEXT_RUN", "LAST_ERROR"}, rows); err != nil {
		return err
	}
	if len(tasks) < total {
		fmt.Fprintf(o.stdout, "%d of %d failed tasks shown (--limit)\n", len(tasks), total)
	}
	return nil
}

// retried is what `ops retry --json` prints, for one task or --all.
type retried struct {
	Retried  int            `json:"retried"`
	Queues   map[string]int `json:"queues"` // tasks now pending, per queue
	ID       string         `json:"id,omitempty"`
	WasState string         `json:"was_state,omitempty"`
}

func (o *opsCmd) retry(ctx context.Context, args []string) error {
	fs := o.flags("ID|--all [--queue Q] [--json]")
	all := fs.Bool("all", false, "run every archived task")
	queue := fs.String("queue", "", "only in this queue")
	rest, err := o.parse(fs, args, 0, 1, "task ID")
	if err != nil {
		return err
	}
	switch {
	case *all && len(rest) > 0:
		fs.Usage()
		return usageError{"ops retry: give a task ID or --all, not both"}
	case !*all && len(rest) == 0:
		fs.Usage()
		return usageError{"ops retry: missing task ID (or --all)"}
	}
	queues, err := pickQueues(o.inspector, *queue)
	if err != nil {
		return err
	}
	if *all {
		byQueue := map[string]int{}
		total := 0
		for _, q := range queues {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := o.inspector.RunAllArchivedTasks(q)
			if err != nil {
				return fmt.Errorf("queue %s: %w", q, err)
			}
			byQueue[q] = n
			total += n
		}
		if o.asJSON {
			return o.json(retried{Retried: total, Queues: byQueue})
		}
		if total == 0 {
			fmt.Fprintln(o.stdout, "no archived tasks to retry")
			return nil
		}
		var parts []string
		for _, q := range queues {
			if byQueue[q] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", q, byQueue[q]))
			}
		}
		fmt.Fprintf(o.stdout, "%d archived %s now pending (%s)\n", total, plural(total, "task", "tasks"), strings.Join(parts, ", "))
		return nil
	}
	t, err := o.findTask(ctx, queues, rest[0], *queue != "")
	if err != nil {
		return err
	}
	// RunTask also runs a scheduled task, which would send a reminder
	// early: ops retry is for failed tasks only.
	if t.State != asynq.TaskStateArchived && t.State != asynq.TaskStateRetry {
		return fmt.Errorf("task %s in queue %s is %s: retry runs only archived or retrying tasks", t.ID, t.Queue, t.State)
	}
	if err := o.inspector.RunTask(t.Queue, t.ID); err != nil {
		return fmt.Errorf("task %s in queue %s: %w", t.ID, t.Queue, err)
	}
	if o.asJSON {
		return o.json(retried{Retried: 1, Queues: map[string]int{t.Queue: 1}, ID: t.ID, WasState: t.State.String()})
	}
	fmt.Fprintf(o.stdout, "task %s in queue %s was %s, now pending\n", t.ID, t.Queue, t.State)
	return nil
}

func (o *opsCmd) delete(ctx context.Context, args []string) error {
	fs := o.flags("ID [--queue Q] [--json]")
	queue := fs.String("queue", "", "only in this queue")
	rest, err := o.parse(fs, args, 1, 1, "task ID")
	if err != nil {
		return err
	}
	queues, err := pickQueues(o.inspector, *queue)
	if err != nil {
		return err
	}
	t, err := o.findTask(ctx, queues, rest[0], *queue != "")
	if err != nil {
		return err
	}
	if err := o.inspector.DeleteTask(t.Queue, t.ID); err != nil {
		return fmt.Errorf("task %s in queue %s (%s): %w", t.ID, t.Queue, t.State, err)
	}
	if o.asJSON {
		return o.json(struct {
			ID       string `json:"id"`
			Queue    string `json:"queue"`
			WasState string `json:"was_state"`
			Deleted  int    `json:"deleted"`
		}{t.ID, t.Queue, t.State.String(), 1})
	}
	fmt.Fprintf(o.stdout, "deleted %s task %s from queue %s\n", t.State, t.ID, t.Queue)
	return nil
}

// findTask finds the task id in one of queues. A TaskID is unique only
// within a queue: one found in several queues must be named with --queue.
func (o *opsCmd) findTask(ctx context.Context, queues []string, id string, named bool) (*asynq.TaskInfo, error) {
	var found []*asynq.TaskInfo
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := o.inspector.GetTaskInfo(q, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("look for task %s in queue %s: %w", id, q, err)
		}
		found = append(found, t)
	}
	switch len(found) {
	case 0:
		where := "in any queue"
		if named {
			where = "in queue " + queues[0]
		}
		return nil, fmt.Errorf("task %q not found %s", id, where)
	case 1:
		return found[0], nil
	}
	var in []string
	for _, t := range found {
		in = append(in, t.Queue)
	}
	return nil, fmt.Errorf("task %q is in queues %s: name one with --queue", id, strings.Join(in, ", "))
}

func (o *opsCmd) pause(args []string, pause bool) error {
	fs := o.flags("QUEUE [--json]")
	rest, err := o.parse(fs, args, 1, 1, "queue name")
	if err != nil {
		return err
	}
	queues, err := pickQueues(o.inspector, rest[0])
	if err != nil {
		return err
	}
	q := queues[0]
	info, err := o.inspector.GetQueueInfo(q)
	if err != nil {
		return fmt.Errorf("queue %s: %w", q, err)
	}
	// asynq refuses to pause a paused queue (and to unpause a running
	// one) with an error: the operator's wish is met all the same.
	changed := info.Paused != pause
	if changed {
		if pause {
			err = o.inspector.PauseQueue(q)
		} else {
			err = o.inspector.UnpauseQueue(q)
		}
		if err != nil {
			return fmt.Errorf("queue %s: %w", q, err)
		}
	}
	if o.asJSON {
		return o.json(struct {
			Queue   string `json:"queue"`
			Paused  bool   `json:"paused"`
			Changed bool   `json:"changed"`
		}{q, pause, changed})
	}
	switch {
	case !changed && pause:
		fmt.Fprintf(o.stdout, "queue %s was already paused\n", q)
	case !changed:
		fmt.Fprintf(o.stdout, "queue %s was not paused\n", q)
	case pause:
		fmt.Fprintf(o.stdout, "queue %s paused: workers take no new task from it until `convene ops unpause %s`\n", q, q)
	default:
		fmt.Fprintf(o.stdout, "queue %s unpaused: workers take its tasks again\n", q)
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine keeps an error message to one table cell: whitespace collapsed,
// cut at limit runes.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		return string(r[:limit-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}
