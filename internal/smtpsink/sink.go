package smtpsink

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Fault tells a Sink how to misbehave. The zero Fault means "behave".
//
// A fault with a Code fires at its Stage; Delay, DropAfterData and
// DropAfterAccept always act at DATA. At DATA the order is: read the body,
// wait Delay, then DropAfterData (record, close), else Code (reply, don't
// record), else accept and record, then DropAfterAccept (close).
type Fault struct {
	// Code, when non-zero, is the SMTP reply code (4xx or 5xx) to give
	// instead of accepting; the message is not recorded.
	Code int
	// Stage is where Code is replied: "mail", "rcpt" or "data" (the
	// default). At "data" the body is read first.
	Stage string
	// Times is how many firings the fault lasts before it clears itself;
	// 0 means until it is replaced. A firing is one MAIL, one RCPT or one
	// DATA command, depending on the stage.
	Times int
	// Delay is how long to wait, after reading the body, before replying
	// to DATA. If the connection closes or the Sink stops during the wait,
	// the wait ends, the connection is closed and nothing is recorded.
	Delay time.Duration
	// DropAfterData reads and records the body, then closes the
	// connection without replying: the mail arrived, but the client
	// cannot know it.
	DropAfterData bool
	// DropAfterAccept replies 250 to DATA and records the message, then
	// closes the connection before the next command.
	DropAfterAccept bool
}

// stage returns where the fault fires.
func (f Fault) stage() string {
	if f.Code == 0 || f.Stage == "" {
		return "data"
	}
	return f.Stage
}

// Sink is an in-process SMTP server that records what it accepts. Its
// methods are safe for concurrent use.
type Sink struct {
	implicitTLS bool
	serverTLS   *tls.Config
	clientTLS   *tls.Config

	mu        sync.Mutex
	addr      string
	gen       *generation // nil while stopped
	msgs      []Message
	changed   chan struct{} // closed and replaced whenever a message is recorded
	attempts  int
	conns     int
	fault     Fault
	faultLeft int
	// noPipelining hides PIPELINING from the EHLO replies of new
	// connections (WithoutPipelining).
	noPipelining bool
}

// generation is one run of the server between Start/Restart and Stop.
type generation struct {
	srv  *smtp.Server
	ln   *listener
	stop chan struct{} // closed by Stop: ends Delay waits
	done chan struct{} // closed when Serve has returned
}

// Start starts a plain SMTP sink on 127.0.0.1 with a random port. It offers
// AUTH PLAIN (any credentials pass, also without TLS) but does not require
// it. The sink stops when the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	return start(t, false, false)
}

// StartTLS starts a sink that offers STARTTLS with a self-signed
// certificate for 127.0.0.1, ::1 and localhost. Clients trust it through
// TLSConfig.
func StartTLS(t testing.TB) *Sink {
	t.Helper()
	return start(t, true, false)
}

// StartImplicitTLS starts a sink that speaks TLS from the first byte
// (smtps), with the same certificate as StartTLS.
func StartImplicitTLS(t testing.TB) *Sink {
	t.Helper()
	return start(t, true, true)
}

func start(t testing.TB, withTLS, implicit bool) *Sink {
	t.Helper()
	s := &Sink{implicitTLS: implicit, changed: make(chan struct{})}
	if withTLS {
		server, client, err := newCertificate()
		if err != nil {
			t.Fatalf("smtpsink: make certificate: %v", err)
		}
		s.serverTLS, s.clientTLS = server, client
	}
	s.listen(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

// listen starts a new generation of the server on addr.
func (s *Sink) listen(t testing.TB, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtpsink: listen on %s: %v", addr, err)
	}
	tl := &listener{Listener: ln, sink: s, conns: make(map[*trackedConn]struct{})}
	var served net.Listener = tl
	if s.implicitTLS {
		served = tls.NewListener(tl, s.serverTLS)
	}
	g := &generation{ln: tl, stop: make(chan struct{}), done: make(chan struct{})}
	srv := smtp.NewServer(&backend{sink: s, gen: g})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.serverTLS != nil && !s.implicitTLS {
		srv.TLSConfig = s.serverTLS
	}
	g.srv = srv

	s.mu.Lock()
	if s.gen != nil {
		s.mu.Unlock()
		_ = ln.Close()
		t.Fatalf("smtpsink: listen on %s: the sink is already running", addr)
	}
	s.gen = g
	s.addr = ln.Addr().String()
	s.mu.Unlock()

	go func() {
		defer close(g.done)
		_ = srv.Serve(served)
	}()
}

// Addr returns the sink's address, "127.0.0.1:port". It stays the same
// across Stop and Restart.
func (s *Sink) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns the sink's address as a mail URL: "smtp://127.0.0.1:port", or
// "smtps://127.0.0.1:port" for a sink started with StartImplicitTLS.
func (s *Sink) URL() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + s.Addr()
}

// TLSConfig returns a client TLS configuration that trusts the sink's
// certificate (and nothing else), with ServerName "127.0.0.1". It returns
// nil for a sink without TLS. Each call returns a fresh copy.
func (s *Sink) TLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns a copy of every message accepted so far, in order of
// arrival.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// Count returns the number of messages accepted so far.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitCount waits until at least n messages have been accepted and returns
// them all. When timeout passes first it fails the test with t.Fatalf,
// listing what did arrive.
func (s *Sink) WaitCount(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		count, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		if count >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-deadline.C:
			msgs := s.Messages()
			t.Fatalf("smtpsink: want at least %d messages within %v, got %d%s", n, timeout, len(msgs), describe(msgs))
			return msgs
		}
	}
}

// describe lists messages for a failure report.
func describe(msgs []Message) string {
	var b strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&b, "\n  [%d] from=<%s> to=%v subject=%q message-id=%q", i, m.From, m.To, m.Header("Subject"), m.Header("Message-ID"))
	}
	return b.String()
}

// Attempts returns the number of DATA commands the sink has received,
// including those that failed, were delayed or dropped.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Connections returns the number of connections the sink has accepted since
// it started, across restarts.
func (s *Sink) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// SetFault replaces the current fault; Fault{} clears it. It panics on a
// Stage other than "", "mail", "rcpt" and "data" or on a Code outside
// 400–599, so that a typo cannot silently disable a fault.
func (s *Sink) SetFault(f Fault) {
	switch f.Stage {
	case "", "mail", "rcpt", "data":
	default:
		panic(fmt.Sprintf("smtpsink: unknown fault stage %q (want mail, rcpt or data)", f.Stage))
	}
	if f.Code != 0 && (f.Code < 400 || f.Code > 599) {
		panic(fmt.Sprintf("smtpsink: fault code %d is not an error reply (want 400-599)", f.Code))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.faultLeft = f.Times
}

// fire returns the fault to apply at stage, or Fault{} for none, and counts
// down a fault with Times.
func (s *Sink) fire(stage string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f == (Fault{}) || f.stage() != stage {
		return Fault{}
	}
	if f.Times > 0 {
		s.faultLeft--
		if s.faultLeft <= 0 {
			s.fault = Fault{}
		}
	}
	return f
}

// Stop closes the listener and every open connection: clients see refused
// connections until Restart. Stop is idempotent and also runs when the test
// ends.
func (s *Sink) Stop() {
	s.mu.Lock()
	g := s.gen
	s.gen = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	close(g.stop)
	_ = g.srv.Close()
	// The server only closes connections it has registered and a listener
	// it has started serving; close ours too so that nothing survives.
	_ = g.ln.Close()
	g.ln.closeAll()
	<-g.done
}

// Restart listens again on the same address after Stop (a running sink is
// stopped first). Recorded messages, counters and the fault are kept.
func (s *Sink) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.listen(t, s.Addr())
}

func (s *Sink) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Sink) addAttempt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
}

// addConn counts a new connection and tells whether it hides PIPELINING.
func (s *Sink) addConn() (noPipelining bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns++
	return s.noPipelining
}

// WithoutPipelining makes the sink stop offering PIPELINING (RFC 2920) on
// connections accepted from now on, like servers that answer one command
// at a time. It works on plain connections, not under TLS.
func (s *Sink) WithoutPipelining() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noPipelining = true
}

// listener counts and tracks accepted connections so that Stop can close
// every one of them.
type listener struct {
	net.Listener
	sink *Sink

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		tc.noPipelining = l.sink.addConn()
		return tc, nil
	}
}

func (l *listener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		_ = c.Conn.Close()
	}
	clear(l.conns)
}

type trackedConn struct {
	net.Conn
	l            *listener
	noPipelining bool
}

// pipeliningLine is the line of go-smtp's EHLO reply that offers
// PIPELINING; go-smtp writes each reply line on its own.
var pipeliningLine = []byte("250-PIPELINING\r\n")

func (c *trackedConn) Write(p []byte) (int, error) {
	if c.noPipelining && bytes.Contains(p, pipeliningLine) {
		if _, err := c.Conn.Write(bytes.Replace(p, pipeliningLine, nil, 1)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

type backend struct {
	sink *Sink
	gen  *generation
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{sink: b.sink, gen: b.gen, conn: c}, nil
}

var (
	errAborted = errors.New("smtpsink: wait aborted")
	errDropped = errors.New("smtpsink: connection dropped")
)

// session is one SMTP session. go-smtp calls it from the connection's
// goroutine only (Logout may come from Stop, and touches nothing).
type session struct {
	sink *Sink
	gen  *generation
	conn *smtp.Conn

	user        string
	from        string
	to          []string
	dropOnReset bool
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, _ string) error {
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if f := ss.sink.fire("mail"); f.Code != 0 {
		return reply(f.Code, from)
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.sink.fire("rcpt"); f.Code != 0 {
		return reply(f.Code, to)
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	ss.sink.addAttempt()
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f := ss.sink.fire("data")
	if f.Delay > 0 && !ss.wait(f.Delay) {
		_ = ss.conn.Conn().Close()
		return errAborted
	}
	switch {
	case f.DropAfterData:
		ss.record(body)
		_ = ss.conn.Conn().Close()
		return errDropped
	case f.Code != 0:
		return reply(f.Code, ss.to...)
	}
	ss.record(body)
	// go-smtp writes the 250 and then resets the session: Reset closes.
	ss.dropOnReset = f.DropAfterAccept
	return nil
}

func (ss *session) Reset() {
	if ss.dropOnReset {
		ss.dropOnReset = false
		_ = ss.conn.Conn().Close()
	}
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

func (ss *session) record(body []byte) {
	_, isTLS := ss.conn.TLSConnectionState()
	ss.sink.record(Message{
		From:     ss.from,
		To:       slices.Clone(ss.to),
		Data:     body,
		Received: time.Now(),
		User:     ss.user,
		TLS:      isTLS,
	})
}

// wait waits d and reports true, or reports false as soon as the client
// closes the connection or the sink stops. While it waits nobody else reads
// the connection (the client is waiting for our reply), so a one-byte probe
// read notices the close; a deadline in the past ends the probe.
func (ss *session) wait(d time.Duration) bool {
	conn := ss.conn.Conn()
	closed := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		var b [1]byte
		_, err := conn.Read(b[:])
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // we ended the probe
		}
		close(closed) // EOF, reset, or a client talking out of turn
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	ok := false
	select {
	case <-timer.C:
		ok = true
	case <-closed:
	case <-ss.gen.stop:
	}
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	<-probeDone
	_ = conn.SetReadDeadline(time.Time{})
	select {
	case <-closed:
		return false
	default:
		return ok
	}
}

// reply is an injected failure. Like many real servers, it names the
// addresses concerned, so tests see that such text is kept out of logs and
// stored task errors.
func reply(code int, addrs ...string) *smtp.SMTPError {
	msg := "smtpsink: injected fault"
	if len(addrs) > 0 {
		msg = "<" + strings.Join(addrs, ">, <") + ">: " + msg
	}
	return &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0},
		Message:      msg,
	}
}
