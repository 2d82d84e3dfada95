// Package ratelimit holds Convene's abuse limits in Redis, so they hold
// across any number of web replicas: a fixed window per limit key, counted
// with INCR and ended by the key's expiry, both on Redis's clock. No Lua
// runs and no command touches two keys, so each key may live in a slot of
// its own on a Redis Cluster, and a check costs Redis a few microseconds.
//
// Windows queues a check's commands on a pipeline, for callers that share
// their round trips with other work (the store's register batcher counts
// a registration's limits in the round trip that stores the registrations
// counted before it). Limiter checks limits alone, in round trips that
// concurrent requests share.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
)

// batchMax is the most limit checks one round trip carries.
const batchMax = 128

// roundTripTimeout bounds one shared round trip.
const roundTripTimeout = 5 * time.Second

// Check is one limit to count a request against: at most N requests per
// Period under Key. N = 0 is no limit.
type Check struct {
	Key    string
	N      int
	Period time.Duration
}

// On reports whether the check limits anything.
func (c Check) On() bool { return c.N > 0 && c.Period > 0 }

// RefusedError is the answer to a request that a limit refused: Check is
// the index of the first check that refused it, Wait how long until that
// check's window ends. Its code is ETOOMANY.
type RefusedError struct {
	Check int
	Wait  time.Duration
}

func (e *RefusedError) Error() string {
	return "too_many: limit " + strconv.Itoa(e.Check) + " refused the request for " + e.Wait.String()
}

// Unwrap makes the error's code ETOOMANY.
func (e *RefusedError) Unwrap() error {
	return &convene.Error{Code: convene.ETOOMANY, Message: "too many requests; try again later"}
}

// Windows is the limit windows under one key prefix (e.g. "cv"): the
// commands that count a request and find when a window ends, queued on a
// caller's pipeline.
type Windows struct{ Prefix string }

func (w Windows) key(ch Check) string { return w.Prefix + ":rl:" + ch.Key }

// Count queues on p the counting of one request against ch, which must be
// On: the window's INCR, and its expiry should the request start it (NX:
// only on a key without one). Once p has run, the request is allowed when
// the count is at most ch.N (see Allowed). No transaction: the two
// commands leave in one write, and should the expiry be lost all the same
// (the connection broke between them), Left gives the window one at its
// first refusal.
func (w Windows) Count(ctx context.Context, p redis.Pipeliner, ch Check) *redis.IntCmd {
	key := w.key(ch)
	n := p.Incr(ctx, key)
	w.expireNX(ctx, p, ch)
	return n
}

// Allowed reports whether the count queued by Count allowed the request
// under ch, or the error that kept it from being counted (EUNAVAILABLE).
func Allowed(ch Check, count *redis.IntCmd) (bool, error) {
	if err := count.Err(); err != nil {
		return false, unavailable(fmt.Errorf("rate limit %s: %w", ch.Key, err))
	}
	return count.Val() <= int64(ch.N), nil
}

// Left queues on p what tells how long until ch's window ends, for a
// request it refused, after giving the window an expiry if it has none.
// Once p has run, Wait reads it.
func (w Windows) Left(ctx context.Context, p redis.Pipeliner, ch Check) *redis.DurationCmd {
	w.expireNX(ctx, p, ch)
	return p.PTTL(ctx, w.key(ch))
}

// Wait is how long until ch's window ends, from the answer of Left: at
// least a millisecond, at most the period (also when Redis did not say).
func Wait(ch Check, left *redis.DurationCmd) time.Duration {
	wait := ch.Period
	if ttl, err := left.Result(); err == nil && ttl > 0 {
		wait = ttl
	}
	return min(max(wait, time.Millisecond), ch.Period)
}

// expireNX queues the expiry of a window that starts now: PEXPIRE … NX,
// which sets it only on a key without one.
func (w Windows) expireNX(ctx context.Context, p redis.Pipeliner, ch Check) {
	p.Do(ctx, "PEXPIRE", w.key(ch), max(ch.Period.Milliseconds(), 1), "NX")
}

// Limiter counts requests against limits kept in Redis. It is safe for
// concurrent use; Close stops it.
type Limiter struct {
	rdb   redis.UniversalClient
	w     Windows
	batch *batch.Batcher[*call]
}

// call is one Allow waiting for its answer.
type call struct {
	checks []Check
	counts []*redis.IntCmd // by check; nil for a check that is not On
	done   chan error
}

// New returns a Limiter on rdb; keys start with prefix (e.g. "cv").
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	l := &Limiter{rdb: rdb, w: Windows{Prefix: prefix}}
	l.batch = batch.New(batchMax/2, 4*batchMax, l.flush)
	return l
}

// Close checks what is queued and stops the Limiter's round trips; later
// calls go alone.
func (l *Limiter) Close() { l.batch.Close() }

// Allow counts one request against every check, all in one round trip
// (shared with the requests asking at the same time). A check allows the
// first N requests of each window of Period, which starts with its first
// request: so at most N in a window, and at most 2N across the end of one.
// Every request counts, allowed or not, on every check. It returns nil
// when every check allowed the request, a *RefusedError (ETOOMANY) when
// one did not, and EUNAVAILABLE when Redis could not be asked (nothing is
// known).
func (l *Limiter) Allow(ctx context.Context, checks ...Check) error {
	c := &call{checks: checks, counts: make([]*redis.IntCmd, len(checks)), done: make(chan error, 1)}
	if !l.batch.TryQueue(c) {
		l.flush([]*call{c})
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
}

// flush counts the checks of every call in one pipelined round trip, and
// asks in a second one when the windows that refused some of them end.
func (l *Limiter) flush(calls []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), roundTripTimeout)
	defer cancel()
	_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			for j, ch := range c.checks {
				if ch.On() {
					c.counts[j] = l.w.Count(ctx, p, ch)
				}
			}
		}
		return nil
	})
	type refusal struct {
		c     *call
		check int
		left  *redis.DurationCmd
	}
	var refused []refusal
	for _, c := range calls {
		first, err := Counted(c.checks, c.counts)
		switch {
		case err != nil:
			c.done <- err
		case first >= 0:
			refused = append(refused, refusal{c: c, check: first})
		default:
			c.done <- nil
		}
	}
	if len(refused) == 0 {
		return
	}
	_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refused {
			refused[i].left = l.w.Left(ctx, p, r.c.checks[r.check])
		}
		return nil
	})
	for _, r := range refused {
		r.c.done <- &RefusedError{Check: r.check, Wait: Wait(r.c.checks[r.check], r.left)}
	}
}

// Counted reads the counts queued by Count for a request's checks (nil
// for a check that is not On): the index of the first check that refused
// the request, -1 when all allowed it, or the error that kept them from
// being counted.
func Counted(checks []Check, counts []*redis.IntCmd) (int, error) {
	first := -1
	for j, ch := range checks {
		if counts[j] == nil {
			continue
		}
		ok, err := Allowed(ch, counts[j])
		if err != nil {
			return -1, err
		}
		if !ok && first < 0 {
			first = j
		}
	}
	return first, nil
}

func unavailable(err error) error {
	return fmt.Errorf("%v: %w", err, &convene.Error{Code: convene.EUNAVAILABLE, Message: "storage is unavailable, try again shortly"})
}

// EmailKey returns the limit key of an email address: a hash, so the
// address itself is not stored.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(convene.NormalizeEmail(email)))
	return "em:" + hex.EncodeToString(sum[:12])
}

// IPKey returns the limit key of a client address.
func IPKey(ip string) string { return "ip:" + ip }
