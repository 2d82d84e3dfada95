package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// doneBatchMax is the most intents one round trip drops.
const doneBatchMax = 256

// DoneBatcher drops intents from their outboxes in the background, many per
// round trip, so that a request need not wait for it. Dropping is only
// bookkeeping: an intent left behind (the process died, Redis failed) is
// found by the sweep, whose enqueue then finds the job already known, or
// enqueues a job whose message the delivery ledger has already recorded.
type DoneBatcher struct {
	s    *Store
	log  *slog.Logger
	in   chan convene.Intent
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing by Close
	closed bool
}

// NewDoneBatcher starts a batcher on s; Close stops it.
func (s *Store) NewDoneBatcher(logger *slog.Logger) *DoneBatcher {
	b := &DoneBatcher{s: s, log: logger, in: make(chan convene.Intent, 4*doneBatchMax), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// Done queues in to be dropped from its outbox. When the queue is full it
// drops it at once, so a burst slows down rather than piles up.
// After Close it drops it at once too.
func (b *DoneBatcher) Done(ctx context.Context, in convene.Intent) error {
	if !inOutbox(in) {
		return nil
	}
	b.mu.RLock()
	queued := false
	if !b.closed {
		select {
		case b.in <- in:
			queued = true
		default:
		}
	}
	b.mu.RUnlock()
	if queued {
		return nil
	}
	return b.s.Done(ctx, in)
}

// Close drops what is queued and stops the batcher.
func (b *DoneBatcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *DoneBatcher) loop() {
	defer b.wg.Done()
	batch := make([]convene.Intent, 0, doneBatchMax)
	for {
		select {
		case in := <-b.in:
			batch = append(batch[:0], in)
		case <-b.stop:
			b.drain(batch[:0])
			return
		}
		// Take whatever else is already waiting: while one round trip is
		// in flight the next batch gathers.
	more:
		for len(batch) < doneBatchMax {
			select {
			case in := <-b.in:
				batch = append(batch, in)
			default:
				break more
			}
		}
		b.flush(batch)
	}
}

// drain flushes everything queued, at Close.
func (b *DoneBatcher) drain(batch []convene.Intent) {
	for {
		select {
		case in := <-b.in:
			batch = append(batch, in)
			if len(batch) < doneBatchMax {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		b.flush(batch)
		batch = batch[:0]
	}
}

func (b *DoneBatcher) flush(batch []convene.Intent) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, in := range batch {
			p.ZRem(ctx, b.s.outboxOf(in), in.Key())
		}
		return nil
	})
	if err != nil {
		b.log.Warn("outbox cleanup failed; the sweep will find the jobs exist", "error", err.Error(), "intents", len(batch))
	}
}
