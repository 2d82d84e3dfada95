// Package ratelimit holds Convene's abuse limits in Redis, so they hold
// across any number of web replicas: GCRA (the generic cell rate
// algorithm) in a Lua script, one key per limit. The limits a request is
// subject to are checked in one pipelined round trip, which concurrent
// requests share.
package ratelimit

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
	"convene/internal/batch"
)

//go:embed gcra.lua
var gcraSource string

// gcra is the limit script. The "#!lua" shebang makes Redis refuse it
// whole when it is out of memory.
var gcra = redis.NewScript("#!lua\n" + gcraSource)

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
// each whether it allowed the request and, when not, how long until it
// would. Each check is counted on its own: one that refuses does not
// count, the others do. An error is EUNAVAILABLE: Redis could not be
// asked, and nothing is known.
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

// flush runs the checks of every call in one pipelined round trip.
func (l *Limiter) flush(calls []*call) {
	type run struct{ call, check int }
	var runs []run
	for i, c := range calls {
		for j, ch := range c.checks {
			if ch.N > 0 {
				runs = append(runs, run{i, j})
			}
		}
	}
	answers := make([]answer, len(calls))
	for i, c := range calls {
		answers[i] = answer{allowed: make([]bool, len(c.checks)), wait: make([]time.Duration, len(c.checks))}
		for j, ch := range c.checks {
			answers[i].allowed[j] = ch.N <= 0
		}
	}
	if len(runs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), roundTripTimeout)
		defer cancel()
		cmds := batch.RunScripts(ctx, l.rdb, gcra, len(runs), func(k int) ([]string, []any) {
			ch := calls[runs[k].call].checks[runs[k].check]
			interval := ch.Period.Microseconds() / int64(ch.N)
			return []string{l.prefix + ":" + ch.Key}, []any{max(interval, 1), ch.Period.Microseconds()}
		})
		for k, r := range runs {
			a := &answers[r.call]
			res, err := cmds[k].Int64Slice()
			if err == nil && len(res) != 2 {
				err = fmt.Errorf("limit script answered %v", res)
			}
			if err != nil {
				a.err = unavailable(fmt.Errorf("rate limit %s: %w", calls[r.call].checks[r.check].Key, err))
				continue
			}
			a.allowed[r.check] = res[0] == 1
			a.wait[r.check] = time.Duration(res[1]) * time.Microsecond
		}
	}
	for i, c := range calls {
		c.done <- answers[i]
	}
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
