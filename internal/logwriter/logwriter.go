// Package logwriter writes a process's log lines the way the store writes
// to Redis: the lines written while one write is in flight go together in
// the next. A line written when none is in flight leaves at once, so
// nothing waits for company; under load, many requests' lines share one
// system call instead of one each.
package logwriter

import (
	"io"
	"sync"
)

// maxPending is how many bytes may wait for the write in flight; a Write
// beyond it waits for that write (the output is slower than the logs).
const maxPending = 1 << 20

// Writer is an io.Writer that hands what is written to the underlying
// writer from a goroutine of its own. Write never fails: an error of the
// underlying writer is kept for Close. Close writes what waits and stops
// the goroutine.
type Writer struct {
	out io.Writer

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending is taken, or on close
	pending []byte
	closed  bool
	err     error
	wake    chan struct{}
	done    chan struct{}
}

// New starts a Writer on out.
func New(out io.Writer) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.loop()
	return w
}

// Write queues p, whole, for the next write. After Close it writes p at
// once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.pending) > maxPending && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return w.out.Write(p)
	}
	w.pending = append(w.pending, p...)
	select {
	case w.wake <- struct{}{}: // under the lock: Close closes wake under it
	default: // a wake-up is already due
	}
	w.mu.Unlock()
	return len(p), nil
}

// Close writes what waits, stops the Writer, and returns the first error
// of the underlying writer. Later Writes go straight through.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return w.err
	}
	w.closed = true
	close(w.wake)
	w.mu.Unlock()
	<-w.done
	return w.err
}

func (w *Writer) loop() {
	defer close(w.done)
	var spare []byte
	for range w.wake {
		spare = w.flush(spare)
	}
	w.flush(spare)
	w.mu.Lock()
	w.cond.Broadcast()
	w.mu.Unlock()
}

// flush writes what is pending, using spare as the next buffer, and
// returns the buffer it wrote from, emptied, for the next flush.
func (w *Writer) flush(spare []byte) []byte {
	w.mu.Lock()
	buf := w.pending
	w.pending = spare[:0]
	w.cond.Broadcast()
	w.mu.Unlock()
	if len(buf) > 0 {
		if _, err := w.out.Write(buf); err != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	}
	if cap(buf) > 4*maxPending {
		return nil // do not keep a buffer grown by a burst
	}
	return buf[:0]
}
