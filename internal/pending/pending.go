// Package pending tells tests what is waiting to be done: the pending
// tasks of the critical queue, and the registration notices still in the
// meetings' notices outboxes.
package pending

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/jobs"
	"convene/store"
)

// Tasks counts the pending tasks of type typ in the critical queue.
func Tasks(t testing.TB, inspector *asynq.Inspector, typ string) int {
	t.Helper()
	tasks, err := inspector.ListPendingTasks(jobs.QueueCritical, asynq.PageSize(10000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		if task.Type == typ {
			n++
		}
	}
	return n
}

// Notices lists the registration notices waiting in the notices outboxes,
// which a notices job sends.
func Notices(t testing.TB, s *store.Store) []convene.Message {
	t.Helper()
	intents, err := s.StaleIntents(context.Background(), time.Now().Add(time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []convene.Message
	for _, in := range intents {
		if in.Notice() {
			out = append(out, in.Message())
		}
	}
	return out
}
