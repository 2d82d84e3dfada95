package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Settings every convene process of the benchmark gets.
const (
	organiserToken = "bench-organiser-token"
	signingKey     = "bench-signing-key-0123456789abcdef0123456789"
	mailFrom       = "Convene <no-reply@convene.test>"
)

// env is one phase's world: a directory, a private Redis, an SMTP sink and
// the convene processes started on them. close undoes all of it.
type env struct {
	b     *bench
	name  string
	dir   string
	redis *redisServer
	sink  *sink
	procs []*proc
	http  *http.Client // for organiser calls

	// dialer, when set, spreads the phase's client connections over many
	// source addresses: its web runs with the intake limits on (startWeb).
	dialer *spreadDialer
}

// newEnv makes the directory of a phase and starts its Redis and sink.
func (b *bench) newEnv(ctx context.Context, name string) (_ *env, err error) {
	b.phases++
	dir := filepath.Join(b.dir, fmt.Sprintf("%d-%s", b.phases, name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	e := &env{b: b, name: name, dir: dir, http: newHTTPClient(64)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.redis, err = startRedis(ctx, dir); err != nil {
		return nil, err
	}
	if e.sink, err = startSink(); err != nil {
		return nil, err
	}
	return e, nil
}

// close stops every process, the sink and Redis. With -profile it first
// saves Redis's per-command statistics of the phase.
func (e *env) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.procs = nil
	if e.redis != nil && e.b.profileDir != "" {
		e.saveCommandStats()
	}
	if e.sink != nil {
		e.sink.close()
	}
	if e.redis != nil {
		e.redis.stop()
	}
	e.http.CloseIdleConnections()
}

// start runs `convene mode` against the phase's Redis and sink, with the
// intake limits off unless extra sets them (see startWeb), and for web
// waits until it listens.
func (e *env) start(ctx context.Context, mode string, extra ...string) (*proc, error) {
	env := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"REDIS_URL=" + e.redis.url(),
		"PORT=0",
		"MAIL_URL=smtp://" + e.sink.addr(),
		"MAIL_FROM=" + mailFrom,
		"SIGNING_KEY=" + signingKey,
		"ORGANISER_TOKENS=" + organiserToken,
		"PUBLIC_URL=https://convene.test",
		"INTAKE_RATE_PER_IP=0",
		"INTAKE_RATE_PER_EMAIL=0",
		"OPS_TOKEN=" + opsToken,
	}, extra...)
	if mode != "web" && e.b.profileDir != "" {
		env = append(env, "METRICS_PORT=0") // its profiles are served there
	}
	p, err := launch(ctx, e.b.binary, mode, filepath.Join(e.dir, mode+".log"), env)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	if mode == "web" || e.b.profileDir != "" {
		if err := p.waitListening(ctx, 30*time.Second); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// startBaseline runs this program again as the baseline process role, on
// the phase's Redis and sink, and for the web role waits until it listens.
func (e *env) startBaseline(ctx context.Context, role string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := launch(ctx, self, role, filepath.Join(e.dir, role+".log"), []string{
		"PATH=" + os.Getenv("PATH"),
		roleEnv + "=" + role,
		"BASELINE_REDIS_SOCKET=" + e.redis.sock,
		"BASELINE_SMTP_ADDR=" + e.sink.addr(),
		// The garbage collector's target convene sets for itself, so that
		// the two differ in their work only.
		"GOGC=400",
	})
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	if role == baselineWebRole {
		if err := p.waitListening(ctx, 30*time.Second); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// stopProc stops one of the phase's processes before the phase ends.
func (e *env) stopProc(p *proc) {
	p.stop()
	for i, q := range e.procs {
		if q == p {
			e.procs = append(e.procs[:i], e.procs[i+1:]...)
			break
		}
	}
}

// proc is one running convene process. Its output goes straight to a file,
// so the benchmark spends no CPU reading logs.
type proc struct {
	mode string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	addr string // web: http://127.0.0.1:port
}

func launch(ctx context.Context, binary, mode, logPath string, env []string) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(binary, mode)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// If the benchmark itself is killed, so are its processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start convene %s: %w", mode, err)
	}
	p := &proc{mode: mode, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitListening reads the log until the process says where it listens:
// web on PORT, the others on METRICS_PORT.
func (p *proc) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if addr := p.listenAddr(); addr != "" {
			p.addr = "http://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("convene %s exited (%v):\n%s", p.mode, p.cmd.ProcessState, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond): // polling the log file
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("convene %s did not listen within %v:\n%s", p.mode, timeout, p.tail())
		}
	}
}

// listenAddr finds the `{"msg":"web listening","addr":…}` line in the log
// (`metrics listening` for the worker and scheduler).
func (p *proc) listenAddr() string {
	msg := "metrics listening"
	if p.mode == "web" || p.mode == baselineWebRole {
		msg = "web listening"
	}
	f, err := os.Open(p.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(msg)) {
			continue
		}
		var e struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == msg {
			return e.Addr
		}
	}
	return ""
}

// tail returns the end of the process's log, for error messages.
func (p *proc) tail() string {
	return fileTail(p.log, 4<<10)
}

// fileTail returns at most n bytes from the end of a file.
func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// stop sends SIGTERM, waits a little for a clean exit, then kills.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cpuTime returns the CPU time (user and system) the process has used so
// far, from /proc; -1 when /proc cannot tell.
func (p *proc) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// The fields after the command name, which is in parentheses: the
	// 12th and 13th of them are utime and stime, in clock ticks.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// statusKB returns a field of the process's /proc/PID/status given in kB
// (VmHWM: its peak resident set size; VmRSS: the current one), or -1 when
// /proc cannot tell.
func (p *proc) statusKB(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb
		}
	}
	return -1
}

// cpuPer describes a CPU time in all and per each of n items: "9.41 s,
// 470 µs each"; "unknown" when it is not known.
func cpuPer(cpu time.Duration, n int) string {
	if cpu < 0 || n <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.2f s, %.0f µs each", cpu.Seconds(), float64(cpu.Microseconds())/float64(n))
}

// redisServer is one private redis-server on a unix socket.
type redisServer struct {
	dir  string
	sock string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server in dir with the settings the README
// recommends for production, and waits until it answers.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	r := &redisServer{dir: dir, sock: filepath.Join(dir, "redis.sock"), done: make(chan struct{})}
	if len(r.sock) > 100 {
		return nil, fmt.Errorf("unix socket path %s is too long: set TMPDIR to a shorter directory", r.sock)
	}
	r.cmd = exec.Command("redis-server",
		"--port", "0",
		"--unixsocket", r.sock,
		"--unixsocketperm", "700",
		"--dir", dir,
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--save", "",
		"--maxmemory-policy", "noeviction",
		"--logfile", filepath.Join(dir, "redis.log"),
	)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server did not answer: %v\n%s", err, fileTail(filepath.Join(dir, "redis.log"), 2<<10))
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("redis-server exited:\n%s", fileTail(filepath.Join(dir, "redis.log"), 2<<10))
		case <-time.After(5 * time.Millisecond): // polling until it accepts
		}
	}
}

// url is the server's REDIS_URL.
func (r *redisServer) url() string { return "unix://" + r.sock }

// client returns a new client sized like convene's own (pool of 64).
func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock, PoolSize: 64, MinIdleConns: 4})
}

// stop kills the server: its data is of no further use.
func (r *redisServer) stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// usedMemory returns INFO memory's used_memory.
func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

// hostCPU is the machine's CPU time so far, from the first line of
// /proc/stat, in clock ticks: all of it, and the part stolen by the
// hypervisor for other guests (on a shared host, the main source of
// noise).
type hostCPU struct{ total, steal uint64 }

// readHostCPU reads /proc/stat; zero when it cannot.
func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return hostCPU{}
	}
	var c hostCPU
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return hostCPU{}
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is counted in user
			c.total += v
		}
		if i == 7 {
			c.steal = v
		}
	}
	return c
}

// stealSince describes the share of the CPU time stolen since c: "12 %",
// or "" when /proc/stat cannot tell.
func (c hostCPU) stealSince() string {
	now := readHostCPU()
	if now.total <= c.total || c.total == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f %%", 100*float64(now.steal-c.steal)/float64(now.total-c.total))
}
