package ratelimit_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"convene"
	"convene/internal/testredis"
	"convene/ratelimit"
)

func TestLimitAllowsNPerPeriodThenSaysWhenAgain(t *testing.T) {
	t.Parallel()
	srv := testredis.Start(t)
	l := ratelimit.New(srv.Client(t), "cv")
	t.Cleanup(l.Close)
	ctx := context.Background()
	ip := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.1"), N: 3, Period: time.Minute}
	for i := range 3 {
		ok, _, err := l.Allow(ctx, ip)
		if err != nil || !ok[0] {
			t.Fatalf("request %d: allowed %v, %v", i+1, ok, err)
		}
	}
	ok, wait, err := l.Allow(ctx, ip)
	if err != nil || ok[0] {
		t.Fatalf("request 4: allowed %v, %v; want refused", ok, err)
	}
	// Until the window, a minute from the first request, ends.
	if wait[0] < 55*time.Second || wait[0] > time.Minute {
		t.Errorf("wait %v, want the rest of the minute", wait[0])
	}
	// Another key, and no limit, are not affected; a refused check does not
	// stop the others.
	other := ratelimit.Check{Key: ratelimit.IPKey("192.0.2.2"), N: 1, Period: time.Minute}
	ok, _, err = l.Allow(ctx, ip, other, ratelimit.Check{Key: "unlimited", N: 0, Period: time.Minute})
	if err != nil || ok[0] || !ok[1] || !ok[2] {
		t.Errorf("allowed %v, %v; want [false true true]", ok, err)
	}
	if ok, _, _ := l.Allow(ctx, other); ok[0] {
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
	for i, want := range []bool{true, true, false} {
		if ok, _, err := l.Allow(context.Background(), check); err != nil || ok[0] != want {
			t.Fatalf("request %d: %v, %v; want %v", i+1, ok, err, want)
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
	if ok, _, err := l.Allow(context.Background(), check); err != nil || !ok[0] {
		t.Errorf("a new window: %v, %v; want allowed", ok, err)
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
	ok, wait, err := l.Allow(ctx, check)
	if err != nil || ok[0] {
		t.Fatalf("allowed %v, %v; want refused", ok, err)
	}
	if wait[0] != time.Minute {
		t.Errorf("wait %v, want the whole period", wait[0])
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
			ok, _, err := replicas[i%len(replicas)].Allow(context.Background(), check)
			if err != nil {
				t.Error(err)
				return
			}
			if ok[0] {
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
	if ok, _, err := l.Allow(context.Background(), check); err != nil || !ok[0] {
		t.Fatalf("first request: %v, %v", ok, err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := l.Allow(ctx, check)
	if code := convene.ErrorCode(err); code != convene.EUNAVAILABLE {
		t.Errorf("Redis down: error %v (code %q), want %s", err, code, convene.EUNAVAILABLE)
	}
}
