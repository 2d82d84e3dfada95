// Package ratelimit holds Convene's abuse limits in Redis, so they hold
// across any number of web replicas: a fixed window per limit key, counted
// with INCR and ended by the key's expiry, both on Redis's clock. The
// limits a request is subject to are checked in one round trip, which
// concurrent requests share; no Lua runs, so a check costs Redis a few
// microseconds.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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

// Limiter counts requests against limits kept in Redis. It is safe for
// concurrent use; Close stops it.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	batch  *batch.Batcher[*call]
}

// call is one Allow waiting for its answers.
type call struct {
	checks []Check
	done   chan answer
}

type answer struct {
	allowed []bool
	wait    []time.Duration
	err     error
}

// New returns a Limiter on rdb; keys start with prefix (e.g. "cv").
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	l := &Limiter{rdb: rdb, prefix: prefix}
	l.batch = batch.New(batchMax/2, 4*batchMax, l.flush)
	return l
}

// Close checks what is queued and stops the Limiter's round trips; later
// calls go alone.
func (l *Limiter) Close() { l.batch.Close() }

// Allow counts one request against every check, all in one round trip
// (shared with the requests asking at the same time), and reports for
// each whether it allowed the request and, when not, how long until its
// window ends. A check allows the first N requests of each window of
// Period, which starts with its first request: so at most N in a window,
// and at most 2N across the end of one. Every request counts, allowed or
// not, on every check. An error is EUNAVAILABLE: Redis could not be asked,
// and nothing is known.
func (l *Limiter) Allow(ctx context.Context, checks ...Check) ([]bool, []time.Duration, error) {
	c := &call{checks: checks, done: make(chan answer, 1)}
	if !l.batch.TryQueue(c) {
		l.flush([]*call{c})
	}
	select {
	case a := <-c.done:
		return a.allowed, a.wait, a.err
	case <-ctx.Done():
		return nil, nil, unavailable(ctx.Err())
	}
}

// run is one check of one call: calls[call].checks[check].
type run struct{ call, check int }

// flush runs the checks of every call in one pipelined round trip.
func (l *Limiter) flush(calls []*call) {
	var runs []run
	for i, c := range calls {
		for j, ch := range c.checks {
			if ch.N > 0 && ch.Period > 0 {
				runs = append(runs, run{i, j})
			}
		}
	}
	answers := make([]answer, len(calls))
	for i, c := range calls {
		answers[i] = answer{allowed: make([]bool, len(c.checks)), wait: make([]time.Duration, len(c.checks))}
		for j, ch := range c.checks {
			answers[i].allowed[j] = ch.N <= 0 || ch.Period <= 0
		}
	}
	if len(runs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), roundTripTimeout)
		defer cancel()
		// Each window is its key's count, and its expiry set when the
		// window starts (NX: only on a key without one). No transaction:
		// each key may be in a slot of its own, and the two commands leave
		// in one write. Should the expiry be lost all the same (the
		// connection broke between them), the first refusal of that key
		// sets it: see waits.
		counts := make([]*redis.IntCmd, len(runs))
		_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k, r := range runs {
				ch := calls[r.call].checks[r.check]
				key := l.key(ch)
				counts[k] = p.Incr(ctx, key)
				expireNX(ctx, p, key, ch.Period)
			}
			return nil
		})
		var refused []run
		for k, r := range runs {
			a := &answers[r.call]
			if err == nil {
				err = counts[k].Err()
			}
			if err != nil {
				a.err = unavailable(fmt.Errorf("rate limit %s: %w", calls[r.call].checks[r.check].Key, err))
				continue
			}
			if counts[k].Val() <= int64(calls[r.call].checks[r.check].N) {
				a.allowed[r.check] = true
				continue
			}
			refused = append(refused, r)
		}
		if len(refused) > 0 {
			l.waits(ctx, calls, answers, refused)
		}
	}
	for i, c := range calls {
		c.done <- answers[i]
	}
}

// waits finds, in one round trip, how long until the window of each
// refused check ends, and gives a window that lost its expiry one.
func (l *Limiter) waits(ctx context.Context, calls []*call, answers []answer, refused []run) {
	ttls := make([]*redis.DurationCmd, len(refused))
	_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, r := range refused {
			ttls[k] = p.PTTL(ctx, l.key(calls[r.call].checks[r.check]))
		}
		return nil
	})
	var lost []run
	for k, r := range refused {
		ch := calls[r.call].checks[r.check]
		wait := ch.Period
		if ttl, err := ttls[k].Result(); err == nil && ttl > 0 {
			wait = ttl
		} else if ttl == -1 {
			lost = append(lost, r)
		}
		// Refused all the same: the count is over N whatever the expiry.
		answers[r.call].wait[r.check] = min(max(wait, time.Millisecond), ch.Period)
	}
	if len(lost) > 0 {
		_, _ = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, r := range lost {
				ch := calls[r.call].checks[r.check]
				expireNX(ctx, p, l.key(ch), ch.Period)
			}
			return nil
		})
	}
}

// expireNX queues the expiry of a window that starts now: PEXPIRE … NX,
// which sets it only on a key without one.
func expireNX(ctx context.Context, p redis.Pipeliner, key string, period time.Duration) {
	p.Do(ctx, "PEXPIRE", key, max(period.Milliseconds(), 1), "NX")
}

// key returns the Redis key of a check's window.
func (l *Limiter) key(ch Check) string { return l.prefix + ":rl:" + ch.Key }

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
