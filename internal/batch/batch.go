// Package batch shares Redis round trips between concurrent callers: a
// Batcher hands what is queued on it to a flush function in batches, and
// RunScripts runs a Lua script many times in one pipelined round trip. The
// store's and the intake limits' batchers are built on it.
package batch

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Batcher hands what is queued on it to flush in batches, from a goroutine
// of its own: a batch is whatever waits when the previous flush ends, up to
// max, so nothing waits for company and a burst shares round trips. A
// staged Batcher's flush may carry work over to the next flush (a second
// step of some items), which then runs at once, with or without new items.
type Batcher[T any] struct {
	in    chan T
	max   int
	flush func([]T) bool
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing by close
	closed bool
}

// New starts a Batcher that holds up to queue items; Close stops it.
func New[T any](max, queue int, flush func([]T)) *Batcher[T] {
	return NewStaged(max, queue, func(batch []T) bool { flush(batch); return false })
}

// NewStaged starts a Batcher whose flush reports whether it carried work
// over: then flush is called again at once, with what is queued by then
// (perhaps nothing), rather than when the next item arrives. Close stops
// it once nothing is queued or carried over.
func NewStaged[T any](max, queue int, flush func([]T) bool) *Batcher[T] {
	b := &Batcher[T]{in: make(chan T, queue), max: max, flush: flush, stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// TryQueue queues v if there is room; it reports false when there is none
// or the Batcher is closed.
func (b *Batcher[T]) TryQueue(v T) bool {
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

// Close flushes what is queued and stops the Batcher. Queueing fails after
// it.
func (b *Batcher[T]) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Batcher[T]) loop() {
	defer b.wg.Done()
	batch := make([]T, 0, b.max)
	carried := false
	for {
		if carried {
			carried = b.flush(gather(batch[:0], b.in, b.max))
			continue
		}
		select {
		case v := <-b.in:
			carried = b.flush(gather(append(batch[:0], v), b.in, b.max))
		case <-b.stop:
			// Close holds the lock: nothing more can be queued.
			for {
				if batch = gather(batch[:0], b.in, b.max); len(batch) == 0 && !carried {
					return
				}
				carried = b.flush(batch)
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

// RunScripts runs script n times in one pipelined round trip on rdb, run i
// with the keys and arguments args(i) gives, followed by what after queues
// (nil: nothing), and returns each run's answer. A run Redis refused with
// NOSCRIPT (it lost its scripts: a restart, a failover) did not happen:
// see Rerun.
func RunScripts(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, n int, args func(i int) ([]string, []any), after func(redis.Pipeliner)) []*redis.Cmd {
	cmds := make([]*redis.Cmd, n)
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			keys, argv := args(i)
			cmds[i] = script.EvalSha(ctx, p, keys, argv...)
		}
		if after != nil {
			after(p)
		}
		return nil
	})
	Rerun(ctx, rdb, script, cmds, args, after)
	return cmds
}

// Rerun runs again each run of script in cmds (queued with the keys and
// arguments args(i) gives) that Redis refused with NOSCRIPT: it did not
// happen. They go in one pipelined round trip, with the script's source
// (EVAL, which loads it), followed by what after queues (nil: nothing) on
// the same connection. It reports whether any ran again.
func Rerun(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, cmds []*redis.Cmd, args func(i int) ([]string, []any), after func(redis.Pipeliner)) bool {
	var again []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return false
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range again {
			keys, argv := args(i)
			cmds[i] = script.Eval(ctx, p, keys, argv...)
		}
		if after != nil {
			after(p)
		}
		return nil
	})
	return true
}
