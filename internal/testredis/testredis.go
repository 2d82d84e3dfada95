// Package testredis starts a private redis-server for a test: on a unix
// socket in a temporary directory, with AOF on, so tests stay parallel and
// can stop, kill and restart their own Redis without touching anyone else's.
package testredis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one private redis-server.
type Server struct {
	t    testing.TB
	dir  string
	sock string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a redis-server for t and stops it when the test ends. extra
// are additional "--name value" arguments (e.g. "--maxmemory", "2mb").
// redis-server must be installed (the README's test command installs it);
// a missing one fails the test rather than skipping it.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found on PATH: run the README's test command, which installs it: %v", err)
	}
	// Unix socket paths are limited to ~100 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "cvr")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	s.args = append([]string{
		"--port", "0",
		"--unixsocket", s.sock,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--save", "",
		"--maxmemory-policy", "noeviction",
		"--logfile", filepath.Join(dir, "redis.log"),
	}, extra...)
	t.Cleanup(func() {
		s.Kill()
		os.RemoveAll(dir)
	})
	s.start()
	return s
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	go cmd.Wait() //nolint:errcheck // the exit is observed through Kill/Stop

	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server did not answer within 10s: %v\n%s", err, log)
		}
		time.Sleep(5 * time.Millisecond) // polling interval while waiting for the server to accept
	}
}

// URL returns the server's address as a REDIS_URL (unix:///…/redis.sock).
func (s *Server) URL() string { return "unix://" + s.sock }

// Socket returns the path of the server's unix socket.
func (s *Server) Socket() string { return s.sock }

// Dir returns the server's data directory (AOF files live under it).
func (s *Server) Dir() string { return s.dir }

// Client returns a new go-redis client for the server, closed when the test
// ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := s.NewClient()
	t.Cleanup(func() { c.Close() })
	return c
}

// NewClient returns a new go-redis client for the server that the caller
// closes: an asynq server's client must outlive the server's Shutdown.
func (s *Server) NewClient() *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock})
}

// Stop shuts the server down gracefully (SIGTERM: it writes its AOF and
// exits) and waits until it is gone.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would, and waits until it
// is gone.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	// Redis may refuse a SIGTERM for a moment ("Writing initial AOF, can't
	// exit", after a replica's sync): send it again until it goes.
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; cmd.Process.Signal(syscall.Signal(0)) == nil; i++ {
		if time.Now().After(deadline) {
			s.t.Errorf("redis-server did not exit within 10 s of %v\n%s", sig, s.Log())
			_ = cmd.Process.Kill()
			break
		}
		if i%100 == 0 {
			_ = cmd.Process.Signal(sig)
		}
		time.Sleep(5 * time.Millisecond) // polling interval while the process exits
	}
	os.Remove(s.sock)
}

// Restart starts the server again with the same directory, socket and
// settings (after Stop or Kill), so it reloads its AOF.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// WaitInSync waits until the server, a replica, has synchronised with its
// primary (INFO replication: master_link_status:up).
func (s *Server) WaitInSync(t testing.TB) {
	t.Helper()
	c := s.NewClient()
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not synchronise within 30 s: %v\n%s", err, s.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling interval while the replica syncs
	}
}

// Log returns the server's log so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// Keys returns every key in the server, for tests that check what is stored.
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	return keys
}

// String describes the server for messages.
func (s *Server) String() string {
	return fmt.Sprintf("redis-server(%s, args %s)", s.sock, strings.Join(s.args, " "))
}
