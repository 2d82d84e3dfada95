package store

import (
	"context"
	"convene/internal/batch"
	"time"

	"convene"
)

// registerBatchMax is the most registrations one round trip carries.
const registerBatchMax = 64

// registerTimeout bounds one round trip of a RegisterBatcher: the web's
// default request timeout.
const registerTimeout = 5 * time.Second

// RegisterBatcher stores registrations, as Register does, for many
// requests at once: the registrations asked for while one round trip is in
// flight go together in the next, pipelined, each in its own script run,
// so each is as atomic as alone. Nothing waits for company: a registration
// asked for while none is in flight leaves at once. Under load this saves
// the web and Redis a write, a read and a wake-up per registration.
type RegisterBatcher struct {
	s     *Store
	batch *batch.Batcher[*registerCall]
}

// registerCall is one Register waiting for its script's answer.
type registerCall struct {
	r    convene.Registration
	done chan registerAnswer
}

type registerAnswer struct {
	res []string
	err error
}

// NewRegisterBatcher starts a batcher on s; Close stops it.
func (s *Store) NewRegisterBatcher() *RegisterBatcher {
	b := &RegisterBatcher{s: s}
	b.batch = batch.New(registerBatchMax, 4*registerBatchMax, b.flush)
	return b
}

// Register stores r as Store.Register does, in the next round trip, and
// returns once its answer is back. It waits for that answer even if ctx
// ends first (the round trip is bounded by its own timeout), so that what
// it returns always says whether r was stored. When the queue is full, and
// after Close, it registers at once, alone.
func (b *RegisterBatcher) Register(ctx context.Context, r convene.Registration) (convene.Registration, []convene.Intent, error) {
	c := &registerCall{r: r, done: make(chan registerAnswer, 1)}
	if !b.batch.TryQueue(c) {
		return b.s.Register(ctx, r)
	}
	a := <-c.done
	return b.s.registered(ctx, r, a.res, a.err)
}

// Close stores what is queued and stops the batcher. Calls made after it
// register at once.
func (b *RegisterBatcher) Close() { b.batch.Close() }

// flush runs the register script for every call in one pipelined
// round trip, and hands each call its answer.
func (b *RegisterBatcher) flush(calls []*registerCall) {
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	cmds := batch.RunScripts(ctx, b.s.rdb, registerScript, len(calls), func(i int) ([]string, []any) {
		return b.s.registerArgs(calls[i].r)
	})
	for i, c := range calls {
		res, err := cmds[i].StringSlice()
		c.done <- registerAnswer{res: res, err: err}
	}
}
