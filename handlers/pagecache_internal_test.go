package handlers

import (
	"testing"
	"time"
)

func TestPageCacheRenewsOnceWhileOthersGetThePageBefore(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	c := newPageCache(func() time.Time { return now })
	if _, ok := c.get("k"); ok {
		t.Fatal("a hit in an empty cache")
	}
	c.put("k", []byte("v1"))
	if b, ok := c.get("k"); !ok || string(b) != "v1" {
		t.Fatalf("fresh: %q %v", b, ok)
	}
	now = now.Add(pageCacheTTL)
	if _, ok := c.get("k"); ok {
		t.Fatal("the first request after the second got the old page; it should render anew")
	}
	for range 3 {
		if b, ok := c.get("k"); !ok || string(b) != "v1" {
			t.Fatalf("while one renders, the others get %q %v, want the page before", b, ok)
		}
	}
	c.put("k", []byte("v2"))
	if b, ok := c.get("k"); !ok || string(b) != "v2" {
		t.Fatalf("renewed: %q %v", b, ok)
	}
	// A renewal that never comes back: the old page is not served for ever.
	now = now.Add(pageCacheTTL)
	c.get("k")
	now = now.Add(pageCacheStale)
	if _, ok := c.get("k"); ok {
		t.Error("an old page was served past pageCacheStale")
	}
	// A failed render forgets the page: the next request tries again.
	c.forget("k")
	if _, ok := c.get("k"); ok {
		t.Error("a forgotten page was served")
	}
}
