package mailer_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"convene/internal/smtpsink"
	"convene/mailer"
)

// writeLog records what the mailer writes to its SMTP connections, one
// entry per Write call.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) wrap(c net.Conn) net.Conn { return &loggedConn{Conn: c, log: l} }

// take returns the writes so far and forgets them.
func (l *writeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c *loggedConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, string(p))
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// sendTwice sends two confirmations through m and returns what the second
// one wrote: the connection is open by then, so these are the writes of one
// mail transaction.
func sendTwice(t *testing.T, m *mailer.Mailer, writes *writeLog) []string {
	t.Helper()
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	writes.take()
	if err := m.Send(t.Context(), confirmation("c.2.r1.m1@convene.example")); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	return writes.take()
}

func TestEnvelopeIsPipelined(t *testing.T) {
	t.Parallel()
	writes := &writeLog{}
	sink, m := setup(t, mailer.WithConnWrapper(writes.wrap))
	got := sendTwice(t, m, writes)
	// The envelope in one write, then the message with its final "." in
	// another (it is smaller than the 4 KB write buffer): two round trips,
	// and no RSET.
	if len(got) != 2 {
		t.Fatalf("%d writes for one mail, want 2 (envelope, message): %q", len(got), got)
	}
	const envelope = "MAIL FROM:<noreply@convene.example> BODY=8BITMIME\r\nRCPT TO:<zoe@example.net>\r\nDATA\r\n"
	if got[0] != envelope {
		t.Errorf("first write %q, want the whole envelope %q", got[0], envelope)
	}
	if !strings.HasSuffix(got[1], "\r\n.\r\n") || !strings.Contains(got[1], "Message-ID: <c.2.r1.m1@convene.example>") {
		t.Errorf("second write is not the whole message and its end: %q", got[1])
	}
	msgs := sink.WaitCount(t, 2, 5*time.Second)
	if got := msgs[1].To; len(got) != 1 || got[0] != "zoe@example.net" {
		t.Errorf("recipients %q", got)
	}
	if sink.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", sink.Connections())
	}
}

func TestWithoutPipeliningOneCommandAtATime(t *testing.T) {
	t.Parallel()
	writes := &writeLog{}
	sink := smtpsink.Start(t)
	sink.WithoutPipelining()
	m := newMailer(t, sink.URL(), mailer.WithConnWrapper(writes.wrap))
	got := sendTwice(t, m, writes)
	want := []string{
		"MAIL FROM:<noreply@convene.example> BODY=8BITMIME\r\n",
		"RCPT TO:<zoe@example.net>\r\n",
		"DATA\r\n",
	}
	if len(got) != len(want)+1 {
		t.Fatalf("%d writes for one mail, want %d (each command, then the message): %q", len(got), len(want)+1, got)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("write %d = %q, want %q", i, got[i], w)
		}
	}
	if !strings.HasSuffix(got[3], "\r\n.\r\n") {
		t.Errorf("last write does not end the message: %q", got[3])
	}
	if n := len(sink.WaitCount(t, 2, 5*time.Second)); n != 2 {
		t.Errorf("sink recorded %d messages, want 2", n)
	}
}
