package store

import "sync"

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
