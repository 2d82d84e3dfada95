// Package ratelimit holds Convene's abuse limits in Redis (GCRA, through
// go-redis/redis_rate), so they hold across any number of web replicas.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"convene"
)

// Limiter counts requests per key in Redis.
type Limiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// New returns a Limiter on rdb; keys start with prefix (e.g. "cv").
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow counts one request under key, allowing n per period (n = 0: no
// limit). When the limit is reached it answers false and how long until
// the next request would be allowed.
func (l *Limiter) Allow(ctx context.Context, key string, n int, period time.Duration) (bool, time.Duration, error) {
	if n <= 0 {
		return true, 0, nil
	}
	res, err := l.l.Allow(ctx, l.prefix+":"+key, redis_rate.Limit{Rate: n, Burst: n, Period: period})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %v: %w", key, err, &convene.Error{Code: convene.EUNAVAILABLE, Message: "storage is unavailable, try again shortly"})
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// EmailKey returns the limit key of an email address: a hash, so the
// address itself is not stored.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(convene.NormalizeEmail(email)))
	return "em:" + hex.EncodeToString(sum[:12])
}

// IPKey returns the limit key of a client address.
func IPKey(ip string) string { return "ip:" + ip }
