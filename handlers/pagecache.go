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

// pageCacheStale is how long past its second an entry may still be served
// while one request renders it anew: the others do not wait for it, nor
// render it too.
const pageCacheStale = 10 * time.Second

// pageCacheMax bounds the entries; a full cache is emptied, not grown.
const pageCacheMax = 4096

// pageCache keeps rendered public pages. It is safe for concurrent use.
type pageCache struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]*cachedPage
}

type cachedPage struct {
	body    []byte
	expires time.Time
	// renewing is true while one request renders the page anew.
	renewing bool
}

func newPageCache(now func() time.Time) *pageCache {
	return &pageCache{now: now, entries: map[string]*cachedPage{}}
}

// get returns the page cached under key while it is fresh. Once it has
// expired, the first caller gets nothing, and should render the page and
// put it; until it does (for pageCacheStale at most), the others get the
// expired page.
func (c *pageCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	now := c.now()
	switch {
	case now.Before(e.expires):
		return e.body, true
	case e.renewing && now.Before(e.expires.Add(pageCacheStale)):
		return e.body, true
	}
	e.renewing = true
	return nil, false
}

// put keeps body under key for pageCacheTTL; body must not change after.
func (c *pageCache) put(key string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= pageCacheMax {
		clear(c.entries)
	}
	c.entries[key] = &cachedPage{body: body, expires: c.now().Add(pageCacheTTL)}
}

// forget drops key, after a render that failed: the next request tries
// again.
func (c *pageCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
