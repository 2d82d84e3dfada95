package store

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
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
	s    *Store
	in   chan *finishCall
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing by Close
	closed bool
}

// finishCall is one FinishMessage waiting for its write.
type finishCall struct {
	msg                  convene.Message
	outcome, emailStatus string
	done                 chan error
}

// NewFinishBatcher starts a batcher on s; Close stops it.
func (s *Store) NewFinishBatcher() *FinishBatcher {
	b := &FinishBatcher{s: s, in: make(chan *finishCall, finishBatchMax), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// FinishMessage records the outcome of a claimed message, as
// Store.FinishMessage does, in the next round trip, and returns when it
// has landed. After Close it writes at once, alone.
func (b *FinishBatcher) FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	c := &finishCall{msg: msg, outcome: outcome, emailStatus: emailStatus, done: make(chan error, 1)}
	b.mu.RLock()
	queued := false
	if !b.closed {
		select {
		case b.in <- c:
			queued = true
		case <-ctx.Done():
		}
	}
	b.mu.RUnlock()
	if !queued {
		if err := ctx.Err(); err != nil {
			return wrap(err, "finish message %s", msg.Key())
		}
		return b.s.FinishMessage(ctx, msg, outcome, emailStatus)
	}
	// The write is on its way and bounded by finishTimeout: wait for it
	// even if ctx ends, so that an error here always means it failed.
	return <-c.done
}

// Close writes what is queued and stops the batcher. Calls made after it
// write at once.
func (b *FinishBatcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *FinishBatcher) loop() {
	defer b.wg.Done()
	batch := make([]*finishCall, 0, finishBatchMax)
	for {
		select {
		case c := <-b.in:
			batch = append(batch[:0], c)
		case <-b.stop:
			// Close holds the lock: nothing more can be queued.
			for {
				select {
				case c := <-b.in:
					b.flush([]*finishCall{c})
				default:
					return
				}
			}
		}
		// Take whatever else is already waiting: while one round trip is
		// in flight the next batch gathers.
	more:
		for len(batch) < finishBatchMax {
			select {
			case c := <-b.in:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.flush(batch)
	}
}

// flush writes batch in one pipelined round trip and tells each call how
// its write went.
func (b *FinishBatcher) flush(batch []*finishCall) {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	cmds := make([]*redis.Cmd, len(batch))
	_, _ = b.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range batch {
			keys, args := b.s.finishArgs(c.msg, c.outcome, c.emailStatus)
			cmds[i] = finishScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	for i, c := range batch {
		err := cmds[i].Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis lost its scripts (a restart): this loads it again.
			err = b.s.FinishMessage(ctx, c.msg, c.outcome, c.emailStatus)
		} else if err != nil {
			err = wrap(err, "finish message %s", c.msg.Key())
		}
		c.done <- err
	}
}
