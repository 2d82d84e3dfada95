package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// opsToken lets the benchmark read the processes' profiles.
const opsToken = "bench-ops-token"

// profile records dur of CPU profile of p into the -profile directory as
// <phase>-<mode>.pprof, in the background; the returned function waits for
// it. Without -profile it does nothing.
func (e *env) profile(ctx context.Context, p *proc, dur time.Duration) (wait func()) {
	if e.b.profileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.fetchProfile(ctx, p, dur); err != nil {
			e.b.logf("profile of %s %s: %v", e.name, p.mode, err)
		}
	}()
	return func() { <-done }
}

func (e *env) fetchProfile(ctx context.Context, p *proc, dur time.Duration) error {
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	path := filepath.Join(e.b.profileDir, fmt.Sprintf("%s-%s.pprof", e.name, p.mode))
	if err := e.savePprof(ctx, p, fmt.Sprintf("profile?seconds=%d", secs), dur+30*time.Second, path); err != nil {
		return err
	}
	e.b.logf("CPU profile of %s for %d s: %s", p.mode, secs, path)
	return nil
}

// heapProfile saves p's heap profile (allocations since it started, and
// what the last garbage collection left in use) into the -profile
// directory as <phase>-<mode>-heap.pprof. Without -profile it does
// nothing.
func (e *env) heapProfile(ctx context.Context, p *proc) {
	if e.b.profileDir == "" {
		return
	}
	path := filepath.Join(e.b.profileDir, fmt.Sprintf("%s-%s-heap.pprof", e.name, p.mode))
	if err := e.savePprof(ctx, p, "heap", 30*time.Second, path); err != nil {
		e.b.logf("heap profile of %s %s: %v", e.name, p.mode, err)
		return
	}
	e.b.logf("heap profile of %s: %s", p.mode, path)
}

// savePprof gets /ops/debug/pprof/<what> from p into the file path.
func (e *env) savePprof(ctx context.Context, p *proc, what string, timeout time.Duration, path string) error {
	if p.addr == "" {
		return fmt.Errorf("convene %s serves no HTTP port", p.mode)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.addr+"/ops/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+opsToken)
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s: %s", res.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// saveCommandStats writes Redis's INFO commandstats and cpu sections (calls
// and microseconds per command, the server's CPU time) as
// <phase>-redis.txt into the -profile directory.
func (e *env) saveCommandStats() {
	c := e.redis.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "commandstats", "cpu").Result()
	if err == nil {
		err = os.WriteFile(filepath.Join(e.b.profileDir, e.name+"-redis.txt"), []byte(info), 0o644)
	}
	if err != nil {
		e.b.logf("redis statistics of %s: %v", e.name, err)
	}
}
