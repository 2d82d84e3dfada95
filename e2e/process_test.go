package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the convene binary built once for the package, with the
// fault-injection hooks compiled in (they stay off unless a test sets
// CONVENE_FAULT).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "convene-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "convene")
	args := append(append([]string{"build"}, raceFlags...), "-tags", "faults", "-o", binary, "../cmd/convene")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build convene:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const signingKey = "e2e-signing-key-0123456789abcdef0123"

// process is one running convene process.
type process struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	addr string
	done chan struct{}
	err  error

	listening chan string
}

// start runs `convene mode` with env (on top of a minimal environment) and,
// for web and dev, waits until it listens.
func start(t testing.TB, mode string, env ...string) *process {
	t.Helper()
	p := launch(t, mode, env...)
	if mode == "web" || mode == "dev" {
		select {
		case addr := <-p.listening:
			p.addr = "http://127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
		case <-p.done:
			t.Fatalf("convene %s exited: %v\n%s", mode, p.err, p.output())
		case <-time.After(30 * time.Second):
			t.Fatalf("convene %s did not listen within 30s\n%s", mode, p.output())
		}
	}
	return p
}

// launch runs `convene mode` with env without waiting for anything.
func launch(t testing.TB, mode string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, mode)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SIGNING_KEY=" + signingKey, "PORT=0"}, env...)
	p := &process{t: t, cmd: cmd, done: make(chan struct{}), listening: make(chan string, 1)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := p.listening
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			var e struct {
				Msg, Addr string
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "web listening" {
				select {
				case listening <- e.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of convene %s:\n%s", mode, p.output())
		}
	})
	return p
}

type lockedWriter struct{ p *process }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// stop sends SIGTERM and returns the exit code, failing the test if the
// process does not exit within timeout.
func (p *process) stop(timeout time.Duration) int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("no exit within %v of SIGTERM\n%s", timeout, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("still running after %v\n%s", timeout, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// call makes an HTTP request with a JSON body and decodes the JSON answer.
func call(t testing.TB, method, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %s", method, url, res.StatusCode, raw)
	}
	return res.StatusCode, out
}
