package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher hands what is queued on it to flush in batches, from a goroutine
// of its own: a batch is whatever waits when the previous flush ends, up to
// max, so nothing waits for company and a burst shares round trips.
type batcher[T any] struct {
	in    chan T
	max   int
	flush func([]T)
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing by close
	closed bool
}

// newBatcher starts a batcher that holds up to queue items; close stops it.
func newBatcher[T any](max, queue int, flush func([]T)) *batcher[T] {
	b := &batcher[T]{in: make(chan T, queue), max: max, flush: flush, stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// tryQueue queues v if there is room; it reports false when there is none
// or the batcher is closed.
func (b *batcher[T]) tryQueue(v T) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false
	}
	select {
	case b.in <- v:
		return true
	default:
		return false
	}
}

// close flushes what is queued and stops the batcher. Queueing fails after
// it.
func (b *batcher[T]) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *batcher[T]) loop() {
	defer b.wg.Done()
	batch := make([]T, 0, b.max)
	for {
		select {
		case v := <-b.in:
			b.flush(gather(append(batch[:0], v), b.in, b.max))
		case <-b.stop:
			// close holds the lock: nothing more can be queued.
			for {
				if batch = gather(batch[:0], b.in, b.max); len(batch) == 0 {
					return
				}
				b.flush(batch)
			}
		}
	}
}

// gather appends to batch what is already waiting on in, up to max in all.
func gather[T any](batch []T, in <-chan T, max int) []T {
	for len(batch) < max {
		select {
		case v := <-in:
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// runScripts runs script n times in one pipelined round trip, run i with
// the keys and arguments args(i) gives, and returns each run's answer. A
// run Redis refused with NOSCRIPT (it lost its scripts: a restart) did
// not happen, so it is run again alone, which loads the script.
func (s *Store) runScripts(ctx context.Context, script *redis.Script, n int, args func(i int) ([]string, []any)) []*redis.Cmd {
	cmds := make([]*redis.Cmd, n)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			keys, argv := args(i)
			cmds[i] = script.EvalSha(ctx, p, keys, argv...)
		}
		return nil
	})
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			keys, argv := args(i)
			cmds[i] = script.Run(ctx, s.rdb, keys, argv...)
		}
	}
	return cmds
}
