package store

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
	"convene/ratelimit"
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
//
// A registration with limits takes two steps, in two round trips one
// after the other: its limits are counted in the first, and if all allow
// it, it is stored in the second, which also counts the limits of the
// registrations asked for since. So the round trips carry both steps, and
// the limits cost no round trip of their own.
type RegisterBatcher struct {
	s     *Store
	batch *batch.Batcher[*registerCall]
	// carried holds, between two flushes, the calls whose limits were
	// counted in the last round trip: to store, or, refused, to tell when
	// to try again. Only the batcher's goroutine uses it.
	carried []*registerCall
}

// registerCall is one Register waiting for its script's answer.
type registerCall struct {
	r      convene.Registration
	limits []ratelimit.Check
	done   chan registerAnswer

	step    registerStep
	counts  []*redis.IntCmd // by limit, once counted; nil for one not On
	refused int             // the limit that refused it, at stepRefused
	left    *redis.DurationCmd
}

type registerStep int

const (
	stepCount   registerStep = iota // its limits are to be counted
	stepStore                       // to be stored: no limits, or all allowed it
	stepRefused                     // a limit refused it: to find when it ends
)

type registerAnswer struct {
	res []string
	err error
}

// NewRegisterBatcher starts a batcher on s; Close stops it.
func (s *Store) NewRegisterBatcher() *RegisterBatcher {
	b := &RegisterBatcher{s: s}
	b.batch = batch.NewStaged(registerBatchMax, 4*registerBatchMax, b.flush)
	return b
}

// Register stores r as Store.Register does, after counting it against
// limits, in the next round trips, and returns once its answer is back. It
// waits for that answer even if ctx ends first (each round trip is bounded
// by its own timeout), so that what it returns always says whether r was
// stored. When the queue is full, and after Close, it registers at once,
// alone.
func (b *RegisterBatcher) Register(ctx context.Context, r convene.Registration, limits ...ratelimit.Check) (convene.Registration, []convene.Intent, error) {
	c := &registerCall{r: r, limits: limits, done: make(chan registerAnswer, 1)}
	if !slices.ContainsFunc(limits, ratelimit.Check.On) {
		c.step = stepStore
	}
	if !b.batch.TryQueue(c) {
		return b.s.Register(ctx, r, limits...)
	}
	a := <-c.done
	if a.err != nil {
		return convene.Registration{}, nil, a.err
	}
	return b.s.registered(ctx, r, a.res, nil)
}

// Close stores what is queued and stops the batcher. Calls made after it
// register at once.
func (b *RegisterBatcher) Close() { b.batch.Close() }

// flush takes the calls carried over from the last round trip and the new
// ones one step further, all in one pipelined round trip: it counts the
// new calls' limits, runs the register script for those to store, and asks
// when the windows of the refused ones end. It reports whether it carries
// calls over to the next round trip.
func (b *RegisterBatcher) flush(fresh []*registerCall) bool {
	calls := append(b.carried, fresh...)
	b.carried = nil
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	var storing []*registerCall
	w := b.s.limits()
	scripts := func(i int) ([]string, []any) { return b.s.registerArgs(storing[i].r) }
	var cmds []*redis.Cmd
	var waits []*redis.IntCmd
	_, _ = b.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			switch c.step {
			case stepCount:
				c.counts = make([]*redis.IntCmd, len(c.limits))
				for j, ch := range c.limits {
					if ch.On() {
						c.counts[j] = w.Count(ctx, p, ch)
					}
				}
			case stepStore:
				storing = append(storing, c)
				keys, argv := scripts(len(storing) - 1)
				cmds = append(cmds, registerScript.EvalSha(ctx, p, keys, argv...))
			case stepRefused:
				c.left = w.Left(ctx, p, c.limits[c.refused])
			}
		}
		if len(storing) > 0 {
			waits = append(waits, b.s.queueWait(ctx, p))
		}
		return nil
	})
	batch.Rerun(ctx, b.s.rdb, registerScript, cmds, scripts, func(p redis.Pipeliner) { waits = append(waits, b.s.queueWait(ctx, p)) })
	replicated := b.s.waited(waits...)
	for i, c := range storing {
		res, err := cmds[i].StringSlice()
		if err != nil {
			err = wrap(err, "register for meeting %s", c.r.MeetingID)
		} else if len(res) > 0 && res[0] == "created" {
			// Stored, but acknowledged only once replicated: a retry
			// finds it and answers it as existing.
			err = replicated
		}
		c.done <- registerAnswer{res: res, err: err}
	}
	for _, c := range calls {
		switch c.step {
		case stepCount:
			first, err := ratelimit.Counted(c.limits, c.counts)
			switch {
			case err != nil:
				c.done <- registerAnswer{err: err}
			case first >= 0:
				c.step, c.refused = stepRefused, first
				b.carried = append(b.carried, c)
			default:
				c.step = stepStore
				b.carried = append(b.carried, c)
			}
		case stepRefused:
			c.done <- registerAnswer{err: &ratelimit.RefusedError{Check: c.refused, Wait: ratelimit.Wait(c.limits[c.refused], c.left)}}
		}
	}
	return len(b.carried) > 0
}
