package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/textproto"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// arrival is what the sink keeps of one accepted message.
type arrival struct {
	at           time.Time // when the whole body had been read, just before the 250
	kind         string    // X-Convene-Kind
	registration string    // X-Convene-Registration
	meeting      string    // X-Convene-Meeting
}

// sink is an SMTP server on 127.0.0.1 that accepts every message and keeps
// only its arrival time and X-Convene-* headers: cheap enough for several
// thousand messages a second. Its methods are safe for concurrent use.
type sink struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}

	mu     sync.Mutex
	byKind map[string][]arrival
	bytes  int64 // message bytes received, as the client sent them after DATA
	count  int64 // messages received
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	s := &sink{ln: ln, done: make(chan struct{}), byKind: map[string][]arrival{}}
	srv := smtp.NewServer(sinkBackend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 1 << 24
	srv.MaxRecipients = 100
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// addr is the sink's "127.0.0.1:port".
func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) close() {
	_ = s.srv.Close()
	<-s.done
}

// meanSize is the mean size of the messages received, in bytes.
func (s *sink) meanSize() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return 0
	}
	return float64(s.bytes) / float64(s.count)
}

func (s *sink) record(h textproto.MIMEHeader, size int64) {
	a := arrival{
		kind:         h.Get("X-Convene-Kind"),
		registration: h.Get("X-Convene-Registration"),
		meeting:      h.Get("X-Convene-Meeting"),
	}
	s.mu.Lock()
	// The time is taken under the lock so that each kind's list is in
	// order of arrival.
	a.at = time.Now()
	s.byKind[a.kind] = append(s.byKind[a.kind], a)
	s.bytes += size
	s.count++
	s.mu.Unlock()
}

// countKind returns how many messages of kind arrived so far.
func (s *sink) countKind(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKind[kind])
}

// wait waits until at least n messages of kind arrived and returns a copy
// of all of them, in order of arrival.
func (s *sink) wait(ctx context.Context, kind string, n int, timeout time.Duration) ([]arrival, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := len(s.byKind[kind])
		var out []arrival
		if got >= n {
			out = append([]arrival(nil), s.byKind[kind]...)
		}
		s.mu.Unlock()
		if out != nil || n == 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d %s emails at the sink after %v, want %d", got, kind, timeout, n)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond): // polling; figures use the recorded arrival times
		}
	}
}

// waitTimeout is how long to wait for n messages: generous, since it only
// bounds a run that went wrong.
func waitTimeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*10*time.Millisecond
}

type sinkBackend struct{ s *sink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: b.s}, nil
}

// sinkSession is one SMTP connection; go-smtp calls it from the
// connection's goroutine only.
type sinkSession struct {
	s  *sink
	br *bufio.Reader // reused across the connection's messages
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Reset()                               {}
func (ss *sinkSession) Logout() error                        { return nil }

// Data reads the header, keeps what the figures need and discards the
// rest of the message.
func (ss *sinkSession) Data(r io.Reader) error {
	cr := &countingReader{r: r}
	if ss.br == nil {
		ss.br = bufio.NewReaderSize(cr, 8<<10)
	} else {
		ss.br.Reset(cr)
	}
	h, err := textproto.NewReader(ss.br).ReadMIMEHeader()
	if err != nil && err != io.EOF {
		_, _ = io.Copy(io.Discard, ss.br)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "bad header: " + err.Error()}
	}
	if _, err := io.Copy(io.Discard, ss.br); err != nil {
		return err
	}
	ss.s.record(h, cr.n)
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
