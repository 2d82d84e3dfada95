package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
)

// finishBatchMax is the most ledger writes one round trip carries.
const finishBatchMax = 64

// finishTimeout bounds one round trip of a FinishBatcher.
const finishTimeout = 10 * time.Second

// FinishBatcher records the outcomes of sends in the ledger, as
// FinishMessage does, for many senders at once: the writes asked for while
// one round trip is in flight go together in the next, pipelined. Nothing
// waits for company: a write asked for while none is in flight leaves at
// once. Each FinishMessage still returns only once its own write has
// landed (or failed), so the ledger says "sent" as soon after the server's
// 250 as before, give or take the round trip in flight.
type FinishBatcher struct {
	s     *Store
	batch *batch.Batcher[*finishCall]
}

// finishCall is one FinishMessage waiting for its write.
type finishCall struct {
	msg                  convene.Message
	outcome, emailStatus string
	done                 chan error
}

// NewFinishBatcher starts a batcher on s; Close stops it.
func (s *Store) NewFinishBatcher() *FinishBatcher {
	b := &FinishBatcher{s: s}
	b.batch = batch.New(finishBatchMax, finishBatchMax, b.flush)
	return b
}

// FinishMessage records the outcome of a claimed message, as
// Store.FinishMessage does, in the next round trip, and returns when it
// has landed. When the queue is full, and after Close, it writes at once,
// alone.
func (b *FinishBatcher) FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	c := &finishCall{msg: msg, outcome: outcome, emailStatus: emailStatus, done: make(chan error, 1)}
	if !b.batch.TryQueue(c) {
		return b.s.FinishMessage(ctx, msg, outcome, emailStatus)
	}
	// The write is on its way and bounded by finishTimeout: wait for it
	// even if ctx ends, so that an error here always means it failed.
	return <-c.done
}

// Close writes what is queued and stops the batcher. Calls made after it
// write at once.
func (b *FinishBatcher) Close() { b.batch.Close() }

// flush writes the calls in one pipelined round trip and tells each call how
// its write went.
func (b *FinishBatcher) flush(calls []*finishCall) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	var waits []*redis.IntCmd
	cmds := batch.RunScripts(ctx, b.s.rdb, finishScript, len(calls), func(i int) ([]string, []any) {
		c := calls[i]
		return b.s.finishArgs(c.msg, c.outcome, c.emailStatus)
	}, func(p redis.Pipeliner) { waits = append(waits, b.s.queueWait(ctx, p)) })
	replicated := b.s.waited(waits...)
	for i, c := range calls {
		err := wrap(cmds[i].Err(), "finish message %s", c.msg.Key())
		if err == nil {
			err = replicated
		}
		c.done <- err
	}
}
