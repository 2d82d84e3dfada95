package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene/internal/testredis"
	"convene/jobs"
)

// payloadMarker is in every test task's payload: no ops output may show it.
const payloadMarker = "PAYLOAD-MUST-NOT-SHOW"

// The tasks of the ops fixture, by TaskID.
const (
	idArchived        = "email:m1:r1:confirm:" // critical, failed once with MaxRetry 0
	idRetry           = "email:m1:r2:confirm:" // critical, failed once, waiting an hour to retry
	idDefaultArchived = "sweep:1700000000"     // default, failed once with MaxRetry 0
	idPending1        = "email:m2:r1:confirm:" // critical, pending
	idPending2        = "email:m2:r2:confirm:" // critical, pending
	idDefaultPending  = "sweep:1700000030"     // default, pending
	errArchived       = "smtp: 550 5.1.1 mailbox unavailable"
	errRetry          = "smtp: 451 4.7.1 try again\nlater" // a newline: the table shows one line
	errDefaultArchive = "sweep: redis: connection reset"
)

// opsBundle is a private Redis holding real asynq tasks in every state the
// ops commands deal with:
//
//	critical: 1 archived, 1 retry, 2 pending
//	default:  1 archived, 1 pending
type opsBundle struct {
	t         *testing.T
	redis     *testredis.Server
	env       map[string]string
	inspector *asynq.Inspector
}

func setupOps(t *testing.T) *opsBundle {
	t.Helper()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	b := &opsBundle{t: t, redis: srv, env: map[string]string{"REDIS_URL": srv.URL()},
		inspector: asynq.NewInspectorFromRedisClient(rdb)}
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	enqueue := func(typ, queue, id string, opts ...asynq.Option) {
		t.Helper()
		payload := fmt.Sprintf(`{"m":"m1","note":%q}`, payloadMarker)
		opts = append([]asynq.Option{asynq.Queue(queue), asynq.TaskID(id)}, opts...)
		if _, err := client.Enqueue(asynq.NewTask(typ, []byte(payload), opts...)); err != nil {
			t.Fatalf("enqueue %s: %v", id, err)
		}
	}
	enqueue(jobs.TypeEmail, jobs.QueueCritical, idArchived, asynq.MaxRetry(0))
	enqueue(jobs.TypeEmail, jobs.QueueCritical, idRetry, asynq.MaxRetry(5))
	enqueue(jobs.TypeSweep, jobs.QueueDefault, idDefaultArchived, asynq.MaxRetry(0))
	b.failAll(map[string]string{idArchived: errArchived, idRetry: errRetry, idDefaultArchived: errDefaultArchive})
	b.mustState(jobs.QueueCritical, idArchived, asynq.TaskStateArchived)
	b.mustState(jobs.QueueCritical, idRetry, asynq.TaskStateRetry)
	b.mustState(jobs.QueueDefault, idDefaultArchived, asynq.TaskStateArchived)
	// Enqueued once no server runs: they stay pending.
	enqueue(jobs.TypeEmail, jobs.QueueCritical, idPending1)
	enqueue(jobs.TypeEmail, jobs.QueueCritical, idPending2)
	enqueue(jobs.TypeSweep, jobs.QueueDefault, idDefaultPending)
	return b
}

// failAll runs a real asynq server whose handler fails every task with the
// error errs gives for its id (retries an hour later), until the tasks in
// errs are no longer pending or active; then it shuts the server down.
func (b *opsBundle) failAll(errs map[string]string) {
	b.t.Helper()
	rdb := b.redis.NewClient()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              4,
		Queues:                   map[string]int{jobs.QueueCritical: 1, jobs.QueueDefault: 1},
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:                 asynq.FatalLevel,
	})
	handler := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		return errors.New(errs[id])
	})
	if err := srv.Start(handler); err != nil {
		b.t.Fatal(err)
	}
	// The server must be down before its client closes, even on failure.
	defer func() { srv.Shutdown(); rdb.Close() }()
	waitFor(b.t, "the tasks to fail", func() bool {
		for _, q := range []string{jobs.QueueCritical, jobs.QueueDefault} {
			info, err := b.inspector.GetQueueInfo(q)
			if err != nil || info.Pending+info.Active > 0 {
				return false
			}
		}
		return true
	})
}

func (b *opsBundle) mustState(queue, id string, want asynq.TaskState) {
	b.t.Helper()
	if got := b.state(queue, id); got != want.String() {
		b.t.Fatalf("task %s in %s: state %s, want %s", id, queue, got, want)
	}
}

// state returns the task's state, or "gone".
func (b *opsBundle) state(queue, id string) string {
	b.t.Helper()
	info, err := b.inspector.GetTaskInfo(queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return "gone"
	}
	if err != nil {
		b.t.Fatalf("GetTaskInfo(%s, %s): %v", queue, id, err)
	}
	return info.State.String()
}

// run runs `convene ops args…` against the bundle's Redis.
func (b *opsBundle) run(args ...string) (stdout, stderr string, err error) {
	return runOpsWith(b.t, b.env, args...)
}

// ok runs a command that must succeed and returns its stdout.
func (b *opsBundle) ok(args ...string) string {
	b.t.Helper()
	out, errOut, err := b.run(args...)
	if err != nil {
		b.t.Fatalf("ops %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	if strings.Contains(out, payloadMarker) {
		b.t.Fatalf("ops %s printed a task payload:\n%s", strings.Join(args, " "), out)
	}
	return out
}

// okJSON runs a command with --json and decodes its one document into v.
func (b *opsBundle) okJSON(v any, args ...string) {
	b.t.Helper()
	out := b.ok(append(args, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		b.t.Fatalf("ops %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	if dec.More() {
		b.t.Fatalf("ops %s --json printed more than one document:\n%s", strings.Join(args, " "), out)
	}
}

func (b *opsBundle) queues() map[string]queueStat {
	b.t.Helper()
	var doc struct {
		Queues []queueStat `json:"queues"`
	}
	b.okJSON(&doc, "queues")
	m := map[string]queueStat{}
	for _, q := range doc.Queues {
		m[q.Name] = q
	}
	return m
}

func runOpsWith(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"ops"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// table parses an aligned table: one map per row, keyed by the header's
// column names, each cell cut at its column's offset in the header (so a
// misaligned column shows as a wrong cell). The last column takes the rest
// of the line.
func table(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	names := strings.Fields(header)
	starts := make([]int, len(names))
	for i, n := range names {
		from := 0
		if i > 0 {
			from = starts[i-1] + len(names[i-1])
		}
		starts[i] = from + strings.Index(header[from:], n)
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, jobs.QueueCritical) && !strings.HasPrefix(line, jobs.QueueDefault) {
			continue // a footer
		}
		row := map[string]string{}
		r := []rune(line)
		for i, n := range names {
			end := len(r)
			if i+1 < len(names) {
				end = min(starts[i+1], len(r))
			}
			if starts[i] > end {
				t.Fatalf("column %s missing in %q", n, line)
			}
			if i > 0 && r[starts[i]-1] != ' ' {
				t.Fatalf("column %s not aligned in %q", n, line)
			}
			row[n] = strings.TrimSpace(string(r[starts[i]:end]))
		}
		rows = append(rows, row)
	}
	return rows
}

func TestOpsQueues(t *testing.T) {
	t.Parallel()
	b := setupOps(t)

	want := map[string]queueStat{
		jobs.QueueCritical: {Name: jobs.QueueCritical, Size: 4, Pending: 2, Retry: 1, Archived: 1, Processed: 2, Failed: 2},
		jobs.QueueDefault:  {Name: jobs.QueueDefault, Size: 2, Pending: 1, Archived: 1, Processed: 1, Failed: 1},
	}
	got := b.queues()
	if len(got) != len(want) {
		t.Fatalf("queues --json: %+v, want %+v", got, want)
	}
	for name, w := range want {
		g := got[name]
		if g.LatencyMS < 0 {
			t.Errorf("%s latency_ms %d", name, g.LatencyMS)
		}
		g.LatencyMS = 0
		if g != w {
			t.Errorf("queues --json %s:\n got %+v\nwant %+v", name, g, w)
		}
	}

	rows := table(t, b.ok("queues"))
	if len(rows) != 2 || rows[0]["QUEUE"] != jobs.QueueCritical || rows[1]["QUEUE"] != jobs.QueueDefault {
		t.Fatalf("queues: rows %v, want critical then default", rows)
	}
	wantRows := []map[string]string{
		{"SIZE": "4", "PENDING": "2", "ACTIVE": "0", "SCHEDULED": "0", "RETRY": "1", "ARCHIVED": "1", "COMPLETED": "0",
			"PROCESSED_TODAY": "2", "FAILED_TODAY": "2", "PAUSED": "no"},
		{"SIZE": "2", "PENDING": "1", "ACTIVE": "0", "SCHEDULED": "0", "RETRY": "0", "ARCHIVED": "1", "COMPLETED": "0",
			"PROCESSED_TODAY": "1", "FAILED_TODAY": "1", "PAUSED": "no"},
	}
	for i, w := range wantRows {
		for col, v := range w {
			if rows[i][col] != v {
				t.Errorf("queues: %s %s = %q, want %q", rows[i]["QUEUE"], col, rows[i][col], v)
			}
		}
		if rows[i]["LATENCY_MS"] == "" {
			t.Errorf("queues: %s has no latency", rows[i]["QUEUE"])
		}
	}
}

func TestOpsQueuesEmpty(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	b := &opsBundle{t: t, redis: srv, env: map[string]string{"REDIS_URL": srv.URL()}}

	if out := b.ok("queues", "--json"); strings.TrimSpace(out) != "{\n  \"queues\": []\n}" {
		t.Errorf("queues --json on an empty Redis: %q, want an empty list", out)
	}
	if out := b.ok("queues"); !strings.Contains(out, "no queues yet") {
		t.Errorf("queues on an empty Redis: %q", out)
	}
	if out := b.ok("failed", "--json"); strings.TrimSpace(out) != "{\n  \"tasks\": [],\n  \"total\": 0\n}" {
		t.Errorf("failed --json on an empty Redis: %q", out)
	}
}

func TestOpsFailed(t *testing.T) {
	t.Parallel()
	b := setupOps(t)
	start := time.Now()

	var doc struct {
		Tasks []failedTask `json:"tasks"`
		Total int          `json:"total"`
	}
	b.okJSON(&doc, "failed")
	if doc.Total != 3 || len(doc.Tasks) != 3 {
		t.Fatalf("failed --json: total %d, %d tasks, want 3: %+v", doc.Total, len(doc.Tasks), doc.Tasks)
	}
	byID := map[string]failedTask{}
	for _, task := range doc.Tasks {
		byID[task.ID] = task
		if task.LastFailedAt.IsZero() || task.LastFailedAt.After(start) || task.LastFailedAt.Before(start.Add(-time.Minute)) {
			t.Errorf("task %s: last_failed_at %v, want shortly before %v", task.ID, task.LastFailedAt, start)
		}
		if task.LastFailedAt.Location() != time.UTC {
			t.Errorf("task %s: last_failed_at %v not in UTC", task.ID, task.LastFailedAt)
		}
	}
	check := func(id, queue, state, typ string, retried, maxRetry int, lastErr string, retrying bool) {
		t.Helper()
		got, ok := byID[id]
		if !ok {
			t.Fatalf("failed --json: no task %s in %+v", id, doc.Tasks)
		}
		if got.Queue != queue || got.State != state || got.Type != typ || got.Retried != retried || got.MaxRetry != maxRetry || got.LastError != lastErr {
			t.Errorf("failed --json %s: %+v, want queue %s state %s type %s retried %d/%d error %q",
				id, got, queue, state, typ, retried, maxRetry, lastErr)
		}
		if retrying != !got.NextProcessAt.IsZero() {
			t.Errorf("failed --json %s: next_process_at %v", id, got.NextProcessAt)
		}
		if retrying && got.NextProcessAt.Before(start.Add(50*time.Minute)) {
			t.Errorf("failed --json %s: next_process_at %v, want about an hour from %v", id, got.NextProcessAt, start)
		}
	}
	check(idArchived, jobs.QueueCritical, "archived", jobs.TypeEmail, 0, 0, errArchived, false)
	check(idRetry, jobs.QueueCritical, "retry", jobs.TypeEmail, 1, 5, errRetry, true)
	check(idDefaultArchived, jobs.QueueDefault, "archived", jobs.TypeSweep, 0, 0, errDefaultArchive, false)
	if ids := []string{doc.Tasks[0].ID, doc.Tasks[1].ID, doc.Tasks[2].ID}; !slices.Equal(ids, []string{idArchived, idRetry, idDefaultArchived}) {
		t.Errorf("failed --json order %v: want critical's archived, critical's retry, then default", ids)
	}

	out := b.ok("failed")
	rows := table(t, out)
	if len(rows) != 3 {
		t.Fatalf("failed: %d rows, want 3:\n%s", len(rows), out)
	}
	want := []map[string]string{
		{"QUEUE": "critical", "STATE": "archived", "ID": idArchived, "TYPE": jobs.TypeEmail, "RETRIED": "0/0", "NEXT_RUN": "-", "LAST_ERROR": errArchived},
		{"QUEUE": "critical", "STATE": "retry", "ID": idRetry, "TYPE": jobs.TypeEmail, "RETRIED": "1/5", "LAST_ERROR": "smtp: 451 4.7.1 try again later"},
		{"QUEUE": "default", "STATE": "archived", "ID": idDefaultArchived, "TYPE": jobs.TypeSweep, "RETRIED": "0/0", "NEXT_RUN": "-", "LAST_ERROR": errDefaultArchive},
	}
	for i, w := range want {
		for col, v := range w {
			if rows[i][col] != v {
				t.Errorf("failed row %d %s = %q, want %q\n%s", i, col, rows[i][col], v, out)
			}
		}
		if _, err := time.Parse(time.RFC3339, rows[i]["LAST_FAILED"]); err != nil {
			t.Errorf("failed row %d LAST_FAILED %q: %v", i, rows[i]["LAST_FAILED"], err)
		}
	}
	if next, err := time.Parse(time.RFC3339, rows[1]["NEXT_RUN"]); err != nil || next.Before(start.Add(50*time.Minute)) {
		t.Errorf("failed: retry NEXT_RUN %q (%v), want about an hour ahead", rows[1]["NEXT_RUN"], err)
	}

	var only struct {
		Tasks []failedTask `json:"tasks"`
		Total int          `json:"total"`
	}
	b.okJSON(&only, "failed", "--queue", jobs.QueueDefault)
	if only.Total != 1 || len(only.Tasks) != 1 || only.Tasks[0].ID != idDefaultArchived {
		t.Errorf("failed --queue default --json: %+v", only)
	}

	out = b.ok("failed", "--limit", "1")
	if rows := table(t, out); len(rows) != 1 || rows[0]["ID"] != idArchived {
		t.Errorf("failed --limit 1: %v", rows)
	}
	if !strings.Contains(out, "1 of 3 failed tasks shown") {
		t.Errorf("failed --limit 1 does not say it cut the list:\n%s", out)
	}

	_, _, err := b.run("failed", "--queue", "nosuch")
	if exitCode(err, io.Discard) != 1 || !strings.Contains(fmt.Sprint(err), `queue "nosuch" not found`) {
		t.Errorf("failed --queue nosuch: %v", err)
	}
}

func TestOpsRetry(t *testing.T) {
	t.Parallel()
	b := setupOps(t)

	out := b.ok("retry", idArchived)
	if want := "task " + idArchived + " in queue critical was archived, now pending\n"; out != want {
		t.Errorf("retry: %q, want %q", out, want)
	}
	if got := b.state(jobs.QueueCritical, idArchived); got != "pending" {
		t.Errorf("retried archived task is %s, want pending", got)
	}

	var doc retried
	b.okJSON(&doc, "retry", "--queue", jobs.QueueCritical, idRetry)
	if want := (retried{Retried: 1, Queues: map[string]int{"critical": 1}, ID: idRetry, WasState: "retry"}); !reflect.DeepEqual(doc, want) {
		t.Errorf("retry --json: %+v, want %+v", doc, want)
	}
	if got := b.state(jobs.QueueCritical, idRetry); got != "pending" {
		t.Errorf("retried retrying task is %s, want pending", got)
	}
	if q := b.queues()[jobs.QueueCritical]; q.Pending != 4 || q.Archived != 0 || q.Retry != 0 {
		t.Errorf("after two retries critical is %+v, want 4 pending", q)
	}

	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown id", []string{"retry", "email:nosuch"}, `task "email:nosuch" not found in any queue`},
		{"wrong queue", []string{"retry", idDefaultArchived, "--queue", "critical"}, `not found in queue critical`},
		{"pending task", []string{"retry", idPending1}, "is pending: retry runs only archived or retrying tasks"},
	} {
		_, _, err := b.run(tc.args...)
		if code := exitCode(err, io.Discard); code != 1 || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: exit %d, %v; want 1 and %q", tc.name, code, err, tc.msg)
		}
	}
	if got := b.state(jobs.QueueDefault, idDefaultArchived); got != "archived" {
		t.Errorf("a failed retry changed task %s to %s", idDefaultArchived, got)
	}
}

func TestOpsRetryAll(t *testing.T) {
	t.Parallel()
	b := setupOps(t)

	var doc retried
	b.okJSON(&doc, "retry", "--all", "--queue", jobs.QueueDefault)
	if doc.Retried != 1 || len(doc.Queues) != 1 || doc.Queues["default"] != 1 || doc.ID != "" {
		t.Errorf("retry --all --queue default --json: %+v", doc)
	}
	if got := b.state(jobs.QueueCritical, idArchived); got != "archived" {
		t.Errorf("retry --all --queue default touched critical: %s", got)
	}

	if out := b.ok("retry", "--all"); out != "1 archived task now pending (critical 1)\n" {
		t.Errorf("retry --all: %q", out)
	}
	q := b.queues()
	if q["critical"].Archived != 0 || q["critical"].Pending != 3 || q["critical"].Retry != 1 ||
		q["default"].Archived != 0 || q["default"].Pending != 2 {
		t.Errorf("after retry --all: %+v", q)
	}
	if out := b.ok("retry", "--all"); out != "no archived tasks to retry\n" {
		t.Errorf("retry --all with nothing archived: %q", out)
	}
}

func TestOpsDelete(t *testing.T) {
	t.Parallel()
	b := setupOps(t)

	if out := b.ok("delete", idArchived); out != "deleted archived task "+idArchived+" from queue critical\n" {
		t.Errorf("delete: %q", out)
	}
	var doc struct {
		ID       string `json:"id"`
		Queue    string `json:"queue"`
		WasState string `json:"was_state"`
		Deleted  int    `json:"deleted"`
	}
	b.okJSON(&doc, "delete", idDefaultPending, "--queue", jobs.QueueDefault)
	if doc.ID != idDefaultPending || doc.Queue != "default" || doc.WasState != "pending" || doc.Deleted != 1 {
		t.Errorf("delete --json: %+v", doc)
	}
	b.ok("delete", idRetry)
	for _, task := range []struct{ queue, id string }{{"critical", idArchived}, {"default", idDefaultPending}, {"critical", idRetry}} {
		if got := b.state(task.queue, task.id); got != "gone" {
			t.Errorf("deleted task %s is %s", task.id, got)
		}
	}
	if q := b.queues(); q["critical"].Size != 2 || q["default"].Size != 1 {
		t.Errorf("after three deletes: %+v", q)
	}

	_, _, err := b.run("delete", idArchived)
	if code := exitCode(err, io.Discard); code != 1 || !strings.Contains(fmt.Sprint(err), "not found") {
		t.Errorf("deleting a deleted task: exit %d, %v", code, err)
	}
}

func TestOpsPause(t *testing.T) {
	t.Parallel()
	b := setupOps(t)

	if out := b.ok("pause", jobs.QueueCritical); !strings.HasPrefix(out, "queue critical paused") {
		t.Errorf("pause: %q", out)
	}
	if q := b.queues(); !q["critical"].Paused || q["default"].Paused {
		t.Errorf("after pause critical: %+v", q)
	}
	if rows := table(t, b.ok("queues")); rows[0]["PAUSED"] != "PAUSED" || rows[1]["PAUSED"] != "no" {
		t.Errorf("queues after pause: %v", rows)
	}

	type state struct {
		Queue   string `json:"queue"`
		Paused  bool   `json:"paused"`
		Changed bool   `json:"changed"`
	}
	var doc state
	b.okJSON(&doc, "pause", jobs.QueueCritical)
	if doc != (state{"critical", true, false}) {
		t.Errorf("pausing a paused queue: %+v", doc)
	}
	b.okJSON(&doc, "unpause", jobs.QueueCritical)
	if doc != (state{"critical", false, true}) {
		t.Errorf("unpause --json: %+v", doc)
	}
	if q := b.queues(); q["critical"].Paused {
		t.Errorf("after unpause critical: %+v", q)
	}
	if out := b.ok("unpause", jobs.QueueCritical); out != "queue critical was not paused\n" {
		t.Errorf("unpausing a running queue: %q", out)
	}

	for _, cmd := range []string{"pause", "unpause"} {
		_, _, err := b.run(cmd, "nosuch")
		if code := exitCode(err, io.Discard); code != 1 || !strings.Contains(fmt.Sprint(err), `queue "nosuch" not found`) {
			t.Errorf("%s nosuch: exit %d, %v", cmd, code, err)
		}
	}
	if _, err := b.inspector.GetQueueInfo("nosuch"); err == nil {
		t.Error("pause nosuch created the queue")
	}
}

func TestOpsDigest(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	b := &opsBundle{t: t, redis: srv, env: map[string]string{"REDIS_URL": srv.URL()}, inspector: asynq.NewInspectorFromRedisClient(srv.Client(t))}

	out := b.ok("digest")
	id, ok := strings.CutPrefix(strings.TrimSpace(out), "digest enqueued: task ")
	if !ok || !strings.HasPrefix(id, "digest:tick:") {
		t.Fatalf("digest: %q", out)
	}
	if got := b.state(jobs.QueueDefault, id); got != "pending" {
		t.Errorf("digest task %s is %s", id, got)
	}
}

// TestOpsCommandLine checks exit codes and messages that need no tasks: a
// bad command line is refused before Redis is asked (exit 2); Redis out of
// reach is a runtime failure (exit 1).
func TestOpsCommandLine(t *testing.T) {
	t.Parallel()
	down := map[string]string{"REDIS_URL": "unix://" + t.TempDir() + "/nosuch/redis.sock"}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "ops: no command given"},
		{"unknown command", []string{"frobnicate"}, 2, `ops: unknown command "frobnicate"`},
		{"unknown flag", []string{"queues", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"argument to queues", []string{"queues", "extra"}, 2, `unexpected argument "extra"`},
		{"retry without id", []string{"retry"}, 2, "missing task ID"},
		{"retry id and all", []string{"retry", "x", "--all"}, 2, "not both"},
		{"retry two ids", []string{"retry", "x", "y"}, 2, `unexpected argument "y"`},
		{"delete without id", []string{"delete"}, 2, "missing task ID"},
		{"failed zero limit", []string{"failed", "--limit", "0"}, 2, "--limit 0"},
		{"failed bad limit", []string{"failed", "--limit", "many"}, 2, "invalid value"},
		{"pause without queue", []string{"pause"}, 2, "missing queue name"},
		{"unpause two queues", []string{"unpause", "a", "b"}, 2, `unexpected argument "b"`},
		{"digest bad organiser", []string{"digest", "--organiser", "not-an-email"}, 2, "--organiser"},
		{"help", []string{"help"}, 0, ""},
		{"queues, Redis down", []string{"queues"}, 1, "ops queues: list queues:"},
		{"queues json, Redis down", []string{"queues", "--json"}, 1, "ops queues: list queues:"},
		{"failed, Redis down", []string{"failed"}, 1, "ops failed: list queues:"},
		{"retry, Redis down", []string{"retry", "x"}, 1, "ops retry: list queues:"},
		{"retry all, Redis down", []string{"retry", "--all"}, 1, "ops retry: list queues:"},
		{"delete, Redis down", []string{"delete", "x"}, 1, "ops delete: list queues:"},
		{"pause, Redis down", []string{"pause", "critical"}, 1, "ops pause: list queues:"},
		{"unpause, Redis down", []string{"unpause", "critical"}, 1, "ops unpause: list queues:"},
		{"digest, Redis down", []string{"digest"}, 1, "ops digest:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := runOpsWith(t, down, tc.args...)
			var msg bytes.Buffer
			if code := exitCode(err, &msg); code != tc.code {
				t.Fatalf("exit %d, want %d: %v", code, tc.code, err)
			}
			if !strings.Contains(msg.String(), tc.msg) {
				t.Errorf("message %q does not say %q", msg.String(), tc.msg)
			}
			if tc.code == 2 && !errors.As(err, &usageError{}) {
				t.Errorf("%T is not a usageError", err)
			}
			if tc.code == 1 && !strings.Contains(msg.String(), "no such file or directory") {
				t.Errorf("message %q does not say why Redis is out of reach", msg.String())
			}
			if tc.code != 0 && stdout != "" {
				t.Errorf("a failure printed to stdout: %q", stdout)
			}
			if tc.code == 0 {
				for _, cmd := range []string{"queues", "failed", "retry", "delete", "pause", "unpause", "digest", "help"} {
					if !strings.Contains(stdout, "\n  "+cmd+" ") {
						t.Errorf("help does not list %s:\n%s", cmd, stdout)
					}
				}
				if stderr != "" {
					t.Errorf("help wrote to stderr: %q", stderr)
				}
			}
		})
	}
}
