package handlers

import (
	"sync"
	"time"
)

// pageCacheTTL is how long the web process keeps a meeting's rendered
// public page. The page says "public, max-age=30" to browsers and CDNs
// anyway; within one process, a second's reuse means a burst of visitors
// from a press release costs Redis one read per meeting and language a
// second, and the web process one rendering.
const pageCacheTTL = time.Second

// pageCacheMax bounds the entries; a full cache is emptied, not grown.
const pageCacheMax = 4096

// pageCache keeps rendered public pages for pageCacheTTL. It is safe for
// concurrent use.
type pageCache struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]cachedPage
}

type cachedPage struct {
	body    []byte
	expires time.Time
}

func newPageCache(now func() time.Time) *pageCache {
	return &pageCache{now: now, entries: map[string]cachedPage{}}
}

// get returns the page cached under key, if it has not expired.
func (c *pageCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.body, true
}

// put keeps body under key for pageCacheTTL; body must not change after.
func (c *pageCache) put(key string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= pageCacheMax {
		clear(c.entries)
	}
	c.entries[key] = cachedPage{body: body, expires: c.now().Add(pageCacheTTL)}
}
