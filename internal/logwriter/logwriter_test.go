package logwriter_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"convene/internal/logwriter"
)

// slowOut records each write it gets, taking a while over each, as a
// pipe to a busy reader does.
type slowOut struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error
}

func (o *slowOut) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond) // a slow reader, not synchronisation
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	if o.fail != nil {
		return 0, o.fail
	}
	return o.buf.Write(p)
}

func (o *slowOut) snapshot() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.writes
}

func TestLinesWrittenTogetherShareWritesAndNoneIsLostOrTorn(t *testing.T) {
	t.Parallel()
	out := &slowOut{}
	w := logwriter.New(out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "{\"writer\":%d,\"line\":%d}\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.snapshot()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") || seen[l] {
			t.Fatalf("torn or repeated line %q", l)
		}
		seen[l] = true
	}
	if len(seen) != writers*lines {
		t.Errorf("%d lines arrived, want %d", len(seen), writers*lines)
	}
	if writes >= writers*lines/2 {
		t.Errorf("%d writes for %d lines: lines written together did not share writes", writes, writers*lines)
	}
}

func TestALineAloneLeavesAtOnceAndAfterCloseLinesGoStraightThrough(t *testing.T) {
	t.Parallel()
	out := &slowOut{}
	w := logwriter.New(out)
	fmt.Fprintln(w, "alone")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.snapshot(); got == "alone\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a line written alone did not leave without Close")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, "after")
	if got, _ := out.snapshot(); got != "alone\nafter\n" {
		t.Errorf("output %q", got)
	}
}

func TestCloseReportsAFailedWrite(t *testing.T) {
	t.Parallel()
	broken := errors.New("pipe closed")
	out := &slowOut{fail: broken}
	w := logwriter.New(out)
	if n, err := fmt.Fprintln(w, "lost"); err != nil || n != 5 {
		t.Fatalf("Write: %d, %v; want it queued", n, err)
	}
	if err := w.Close(); !errors.Is(err, broken) {
		t.Errorf("Close: %v, want the output's error", err)
	}
}
