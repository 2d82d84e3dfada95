package store

import (
	"context"
	"convene/internal/batch"
	"log/slog"
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
	s     *Store
	log   *slog.Logger
	batch *batch.Batcher[convene.Intent]
}

// NewDoneBatcher starts a batcher on s; Close stops it.
func (s *Store) NewDoneBatcher(logger *slog.Logger) *DoneBatcher {
	b := &DoneBatcher{s: s, log: logger}
	b.batch = batch.New(doneBatchMax, 4*doneBatchMax, b.flush)
	return b
}

// Done queues in to be dropped from its outbox. When the queue is full it
// drops it at once, so a burst slows down rather than piles up.
// After Close it drops it at once too.
func (b *DoneBatcher) Done(ctx context.Context, in convene.Intent) error {
	if !inOutbox(in) || b.batch.TryQueue(in) {
		return nil
	}
	return b.s.Done(ctx, in)
}

// Close drops what is queued and stops the batcher.
func (b *DoneBatcher) Close() { b.batch.Close() }

func (b *DoneBatcher) flush(calls []convene.Intent) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, in := range calls {
			p.ZRem(ctx, b.s.outboxOf(in), in.Key())
		}
		return nil
	})
	if err != nil {
		b.log.Warn("outbox cleanup failed; the sweep will find the jobs exist", "error", err.Error(), "intents", len(calls))
	}
}
