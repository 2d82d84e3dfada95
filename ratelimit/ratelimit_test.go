package ratelimit_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"convene"
	"convene/internal/testredis"
	"convene/ratelimit"
)

// allow asks l about one request and returns the index of the check that
// refused it (-1: allowed) and how long until that check allows again.
func allow(t *testing.T, l *ratelimit.Limiter, checks ...ratelimit.Check) (int, time.Duration) {
	t.Helper()
	err := l.Allow(context.Background(), checks...)
	if err == nil {
		return -1, 0
	}
	var refusal *ratelimit.RefusedError
	if !errors.As(err, &refusal) {
		t.Fatalf("Allow: %v, want nil or a refusal", err)
	}
	if code := convene.ErrorCode(err); code != convene.ETOOMANY {
		t.Errorf("a refusal's code is %q, want %s", code, convene.ETOOMANY)
	}
	return refusal.Check, refusal.Wait
}

func TestLimitAllowsNPerPeriodThenSaysWhenAgain(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	l := ratelimit.New(srv.Client(t), "cv")
	t.Cleanup(l.Close)
	ctx := context.Background()
	ip := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.1"), N: 3, Period: time.Minute}
	for i := range 3 {
		if refused, _ := allow(t, l, ip); refused >= 0 {
			t.Fatalf("request %d refused", i+1)
		}
	}
	refused, wait := allow(t, l, ip)
	if refused != 0 {
		t.Fatalf("request 4: refused by %d, want by check 0", refused)
	}
	// Until the window, a minute from the first request, ends.
	if wait < 55*time.Second || wait > time.Minute {
		t.Errorf("wait %v, want the rest of the minute", wait)
	}
	// Another key, and no limit, are not affected; a refused check does not
	// keep the others from counting.
	other := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.2"), N: 1, Period: time.Minute}
	if refused, _ := allow(t, l, other, ratelimit.Check{Key: "unlimited", N: 0, Period: time.Minute}, ip); refused != 2 {
		t.Errorf("refused by %d, want by check 2 only", refused)
	}
	if refused, _ := allow(t, l, other); refused != 0 {
		t.Error("the second request under a limit of one was allowed")
	}
	// The keys expire by themselves, and hold no address in clear.
	for _, k := range srv.Keys(t) {
		if ttl := srv.Client(t).PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Minute {
			t.Errorf("key %s has TTL %v", k, ttl)
		}
	}
	if key := ratelimit.EmailKey(" Ada@Example.org "); key != ratelimit.EmailKey("ada@example.org") || len(key) != 3+24 {
		t.Errorf("EmailKey = %q, want the same hash for the same address in any case", key)
	}
}

func TestLimitWindowEndsAndStartsAgain(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	l := ratelimit.New(srv.Client(t), "cv")
	t.Cleanup(l.Close)
	check := ratelimit.Check{Key: "ip:192.0.2.9", N: 2, Period: 300 * time.Millisecond}
	for i, want := range []int{-1, -1, 0} {
		if refused, _ := allow(t, l, check); refused != want {
			t.Fatalf("request %d: refused by %d, want %d", i+1, refused, want)
		}
	}
	// Poll until the window's key has expired, then the limit allows again.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Client(t).Exists(context.Background(), "cv:rl:ip:192.0.2.9").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the window never ended")
		}
		runtime.Gosched()
	}
	if refused, _ := allow(t, l, check); refused >= 0 {
		t.Error("a new window: refused, want allowed")
	}
}

func TestLimitWindowThatLostItsExpiryGetsOneAtItsFirstRefusal(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	l := ratelimit.New(rdb, "cv")
	t.Cleanup(l.Close)
	ctx := context.Background()
	// A count whose PEXPIRE never ran: the connection broke after the INCR.
	if err := rdb.Set(ctx, "cv:rl:ip:192.0.2.7", 5, 0).Err(); err != nil {
		t.Fatal(err)
	}
	check := ratelimit.Check{Key: "ip:192.0.2.7", N: 5, Period: time.Minute}
	refused, wait := allow(t, l, check)
	if refused != 0 {
		t.Fatal("allowed, want refused")
	}
	if wait <= 55*time.Second || wait > time.Minute {
		t.Errorf("wait %v, want the whole period", wait)
	}
	if ttl := rdb.PTTL(ctx, "cv:rl:ip:192.0.2.7").Val(); ttl <= 55*time.Second || ttl > time.Minute {
		t.Errorf("after the refusal the window's TTL is %v, want about a minute", ttl)
	}
}

func TestLimitIsExactAcrossConcurrentRequestsAndReplicas(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	var replicas []*ratelimit.Limiter
	for range 3 {
		rdb := srv.NewClient()
		l := ratelimit.New(rdb, "cv")
		t.Cleanup(func() { l.Close(); rdb.Close() })
		replicas = append(replicas, l)
	}
	const n, tries = 50, 300
	check := ratelimit.Check{Key: ratelimit.EmailKey("victim@example.org"), N: n, Period: time.Hour}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			var refusal *ratelimit.RefusedError
			err := replicas[i%len(replicas)].Allow(context.Background(), check)
			if err != nil && !errors.As(err, &refusal) {
				t.Error(err)
				return
			}
			if err == nil {
				allowed.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != n || refused.Load() != tries-n {
		t.Errorf("%d allowed, %d refused; want exactly %d and %d", allowed.Load(), refused.Load(), n, tries-n)
	}
}

func TestLimitWithoutRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	l := ratelimit.New(srv.Client(t), "cv")
	t.Cleanup(l.Close)
	check := ratelimit.Check{Key: "ip:192.0.2.1", N: 5, Period: time.Minute}
	if err := l.Allow(context.Background(), check); err != nil {
		t.Fatalf("first request: %v", err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := l.Allow(ctx, check)
	if code := convene.ErrorCode(err); code != convene.EUNAVAILABLE {
		t.Errorf("Redis down: error %v (code %q), want %s", err, code, convene.EUNAVAILABLE)
	}
}
