package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of StartSentinel know the primary
// by.
const MasterName = "convene"

// Sentinel is a private Sentinel setup: two redis-servers, a primary and
// its replica, on loopback TCP ports (replication and Sentinel need TCP),
// each also on a unix socket of its own, and three redis-sentinel
// processes watching them, with a quorum of two.
type Sentinel struct {
	t         testing.TB
	Servers   [2]*Server
	ports     [2]int
	sentinels []*exec.Cmd
	addrs     []string
	dir       string
}

// StartSentinel starts the setup for t and stops it when the test ends. A
// primary is declared down after 1 s without an answer, so a failover
// takes a few seconds. redis-sentinel must be installed (the README's test
// command installs it).
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		t.Fatalf("redis-sentinel not found on PATH: run the README's test command, which installs it: %v", err)
	}
	dir, err := os.MkdirTemp("", "cvs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Sentinel{t: t, dir: dir}
	for i := range s.Servers {
		s.ports[i] = FreePort(t)
		// No delay before a full sync: a replica is ready at once.
		args := []string{"--port", strconv.Itoa(s.ports[i]), "--bind", "127.0.0.1", "--repl-diskless-sync-delay", "0"}
		if i > 0 {
			args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(s.ports[0]))
		}
		s.Servers[i] = Start(t, args...)
	}
	s.Servers[1].WaitInSync(t)
	for i := range 3 {
		port := FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel%d.conf", i))
		body := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"dir " + dir,
			"logfile " + filepath.Join(dir, fmt.Sprintf("sentinel%d.log", i)),
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", MasterName, s.ports[0]),
			"sentinel down-after-milliseconds " + MasterName + " 1000",
			"sentinel failover-timeout " + MasterName + " 5000",
			"sentinel parallel-syncs " + MasterName + " 1",
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("redis-sentinel", conf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-sentinel: %v", err)
		}
		go cmd.Wait() //nolint:errcheck // killed at cleanup
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		s.sentinels = append(s.sentinels, cmd)
		s.addrs = append(s.addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	// Ready when every sentinel knows the primary and its replica, and
	// the other sentinels.
	s.poll(30*time.Second, "the sentinels to see the primary, its replica and each other", func() bool {
		for _, a := range s.addrs {
			c := redis.NewSentinelClient(&redis.Options{Addr: a})
			m, err := c.Master(context.Background(), MasterName).Result()
			c.Close()
			if err != nil || m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
	return s
}

// URL returns the setup as a REDIS_URL (redis+sentinel://…/convene).
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.addrs, ",") + "/" + MasterName
}

// Primary returns the server the sentinels name as primary now.
func (s *Sentinel) Primary() *Server {
	s.t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.addrs[0]})
	defer c.Close()
	addr, err := c.GetMasterAddrByName(context.Background(), MasterName).Result()
	if err != nil {
		s.t.Fatalf("SENTINEL GET-MASTER-ADDR-BY-NAME: %v", err)
	}
	for i, p := range s.ports {
		if addr[1] == strconv.Itoa(p) {
			return s.Servers[i]
		}
	}
	s.t.Fatalf("the sentinels name %v, neither of the servers", addr)
	return nil
}

// KillPrimary kills the primary with SIGKILL, as a crash would, and waits
// until the sentinels have promoted the replica and it accepts writes. It
// returns how long that took.
func (s *Sentinel) KillPrimary() time.Duration {
	s.t.Helper()
	old := s.Primary()
	start := time.Now()
	old.Kill()
	s.poll(60*time.Second, "the sentinels to promote the replica", func() bool {
		p := s.Primary()
		if p == old {
			return false
		}
		c := p.NewClient()
		defer c.Close()
		role, err := c.Do(context.Background(), "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master"
	})
	return time.Since(start)
}

// WaitReplica waits until srv (restarted after KillPrimary) has rejoined as
// a replica of the current primary and is in sync with it.
func (s *Sentinel) WaitReplica(srv *Server) {
	s.t.Helper()
	c := srv.NewClient()
	defer c.Close()
	s.poll(60*time.Second, "the old primary to rejoin as a replica", func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
	})
}

// Log returns the sentinels' logs, for failure messages.
func (s *Sentinel) Log() string {
	var b strings.Builder
	for i := range s.sentinels {
		l, _ := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("sentinel%d.log", i)))
		fmt.Fprintf(&b, "--- sentinel %d\n%s", i, l)
	}
	return b.String()
}

func (s *Sentinel) poll(timeout time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s: not within %v\n%s", what, timeout, s.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling interval while Redis and Sentinel settle
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
