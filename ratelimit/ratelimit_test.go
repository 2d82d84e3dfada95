package ratelimit_test

import (
	"context"
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
	// One more every period/n: about 20 s from the first.
	if wait[0] < 19*time.Second || wait[0] > 20*time.Second {
		t.Errorf("wait %v, want about 20 s", wait[0])
	}
	// Another key, and no limit, are not affected; a refused check does not
	// stop the others from counting.
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
	// Redis forgets its scripts (a restart, SCRIPT FLUSH): the check loads
	// the script again.
	if err := srv.Client(t).ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := l.Allow(context.Background(), check); err != nil || !ok[0] {
		t.Fatalf("after SCRIPT FLUSH: %v, %v", ok, err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := l.Allow(ctx, check)
	if code := convene.ErrorCode(err); code != convene.EUNAVAILABLE {
		t.Errorf("Redis down: error %v (code %q), want %s", err, code, convene.EUNAVAILABLE)
	}
}
