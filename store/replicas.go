package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// WithWait makes the store's acknowledged writes (a registration stored, a
// send recorded in the ledger) wait until n replicas have them (WAIT), for
// at most timeout: REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT. A write
// that reached fewer in time is EUNAVAILABLE: it is stored on the primary,
// but a failover could still lose it, so it is not acknowledged.
func WithWait(n int, timeout time.Duration) Option {
	return func(s *Store) { s.waitReplicas, s.waitTimeout = n, timeout }
}

// queueWait queues, after the writes queued on p, the WAIT for them (on
// the same connection, which is what WAIT is about); nil without WithWait.
func (s *Store) queueWait(ctx context.Context, p redis.Pipeliner) *redis.IntCmd {
	if s.waitReplicas <= 0 {
		return nil
	}
	cmd := redis.NewIntCmd(ctx, "WAIT", s.waitReplicas, max(s.waitTimeout.Milliseconds(), 1))
	_ = p.Process(ctx, cmd)
	return cmd
}

// waited tells whether the WAITs queued by queueWait (nil ones are fine)
// saw enough replicas.
func (s *Store) waited(waits ...*redis.IntCmd) error {
	for _, w := range waits {
		if w == nil {
			continue
		}
		n, err := w.Result()
		if err != nil {
			return wrap(err, "wait for %d replicas", s.waitReplicas)
		}
		if n < int64(s.waitReplicas) {
			return fmt.Errorf("written, but on %d of %d replicas after %v: %w", n, s.waitReplicas, s.waitTimeout,
				&convene.Error{Code: convene.EUNAVAILABLE, Message: "storage is not replicated yet, try again shortly"})
		}
	}
	return nil
}
