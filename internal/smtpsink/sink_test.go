package smtpsink_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"convene/internal/smtpsink"
)

const calendar = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"

// mimeMessage is a hand-built message like the mailer's: an alternative
// text/html body in quoted-printable and a base64 calendar attachment.
func mimeMessage(subject string) string {
	return "From: Convene <noreply@example.org>\r\n" +
		"To: =?UTF-8?q?Zo=C3=AB?= <zoe@example.net>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <m1@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n" +
		"\r\n" +
		"--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=inner\r\n" +
		"\r\n" +
		"--inner\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"Gr=C3=BC=C3=9Fe, Zo=C3=AB\r\n" +
		"--inner\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"<p>Gr=C3=BC=C3=9Fe</p>\r\n" +
		"--inner--\r\n" +
		"--outer\r\n" +
		"Content-Type: text/calendar; charset=utf-8; method=REQUEST; name=\"invite.ics\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"invite.ics\"\r\n" +
		"\r\n" +
		"QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6UkVR\r\n" +
		"VUVTVA0KRU5EOlZDQUxFTkRBUg0K\r\n" +
		"--outer--\r\n"
}

// send delivers one message with net/smtp and returns the first error.
func send(addr, subject string) error {
	return smtp.SendMail(addr, nil, "noreply@example.org", []string{"zoe@example.net"}, []byte(mimeMessage(subject)))
}

// transaction runs MAIL, RCPT and DATA on c and returns the error of the
// DATA close (the reply to the final dot).
func transaction(t *testing.T, c *smtp.Client) error {
	t.Helper()
	if err := c.Mail("noreply@example.org"); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt("zoe@example.net"); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write([]byte(mimeMessage("hello"))); err != nil {
		t.Fatalf("write body: %v", err)
	}
	return w.Close()
}

func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestRecordsMessageWithParts(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	if err := send(sink.Addr(), "=?UTF-8?q?Gr=C3=BC=C3=9Fe?="); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := sink.WaitCount(t, 1, 5*time.Second)
	if len(msgs) != 1 || sink.Count() != 1 || sink.Attempts() != 1 {
		t.Fatalf("got %d messages, Count %d, Attempts %d; want 1, 1, 1", len(msgs), sink.Count(), sink.Attempts())
	}
	m := msgs[0]
	if m.From != "noreply@example.org" || len(m.To) != 1 || m.To[0] != "zoe@example.net" {
		t.Errorf("envelope = %q -> %q", m.From, m.To)
	}
	if m.User != "" || m.TLS {
		t.Errorf("User = %q, TLS = %v; want no auth, no TLS", m.User, m.TLS)
	}
	if m.Received.IsZero() {
		t.Error("Received is zero")
	}
	if got := m.Header("Subject"); got != "Grüße" {
		t.Errorf("Subject = %q, want decoded %q", got, "Grüße")
	}
	if got := m.Header("To"); got != "Zoë <zoe@example.net>" {
		t.Errorf("To = %q", got)
	}
	if got := m.Header("message-id"); got != "<m1@example.org>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := m.Header("X-Absent"); got != "" {
		t.Errorf("absent header = %q", got)
	}

	parts := m.Parts()
	var types []string
	for _, p := range parts {
		types = append(types, p.ContentType)
	}
	if strings.Join(types, ",") != "text/plain,text/html,text/calendar" {
		t.Fatalf("leaf parts = %v", types)
	}
	text, ok := m.Part("text/plain")
	if !ok || strings.TrimRight(string(text.Body), "\r\n") != "Grüße, Zoë" || text.Params["charset"] != "UTF-8" {
		t.Errorf("text part = %q %v", text.Body, text.Params)
	}
	html, ok := m.Part("TEXT/HTML")
	if !ok || !strings.Contains(string(html.Body), "<p>Grüße</p>") {
		t.Errorf("html part = %q", html.Body)
	}
	cal, ok := m.Part("text/calendar")
	if !ok {
		t.Fatal("no text/calendar part")
	}
	if cal.Params["method"] != "REQUEST" || cal.Filename != "invite.ics" || string(cal.Body) != calendar {
		t.Errorf("calendar part: params %v, filename %q, body %q", cal.Params, cal.Filename, cal.Body)
	}
	if _, ok := m.Part("image/png"); ok {
		t.Error("Part found an image/png that is not there")
	}

	// Messages returns a copy: changing it does not change the sink.
	msgs[0].Data[0] = 'X'
	msgs[0].To[0] = "changed"
	if again := sink.Messages()[0]; again.Data[0] == 'X' || again.To[0] == "changed" {
		t.Error("Messages shares memory with the sink")
	}
}

func TestPlainMessageIsOnePart(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	body := "Subject: plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =C3=A9\r\n"
	if err := smtp.SendMail(sink.Addr(), nil, "a@example.org", []string{"b@example.org"}, []byte(body)); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := sink.WaitCount(t, 1, 5*time.Second)[0]
	parts := m.Parts()
	if len(parts) != 1 || parts[0].ContentType != "text/plain" || strings.TrimSpace(string(parts[0].Body)) != "softbreak é" {
		t.Fatalf("parts = %+v", parts)
	}
}

func TestAuthPlainAccepted(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	auth := smtp.PlainAuth("", "alice", "any-password", "127.0.0.1")
	if err := smtp.SendMail(sink.Addr(), auth, "a@example.org", []string{"b@example.org"}, []byte(mimeMessage("x"))); err != nil {
		t.Fatalf("send with AUTH PLAIN: %v", err)
	}
	if got := sink.WaitCount(t, 1, 5*time.Second)[0].User; got != "alice" {
		t.Errorf("User = %q, want alice", got)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     smtpsink.Fault
		wantCode  int
		wantStage string // which command fails
		attempts  int
	}{
		{"451 at data by default", smtpsink.Fault{Code: 451}, 451, "data", 1},
		{"550 at data", smtpsink.Fault{Code: 550, Stage: "data"}, 550, "data", 1},
		{"421 at mail", smtpsink.Fault{Code: 421, Stage: "mail"}, 421, "mail", 0},
		{"550 at rcpt", smtpsink.Fault{Code: 550, Stage: "rcpt"}, 550, "rcpt", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := smtpsink.Start(t)
			sink.SetFault(tt.fault)
			c, err := smtp.Dial(sink.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			stage, err := "mail", c.Mail("a@example.org")
			if err == nil {
				stage, err = "rcpt", c.Rcpt("b@example.org")
			}
			if err == nil {
				w, derr := c.Data()
				if derr != nil {
					t.Fatalf("DATA: %v", derr)
				}
				_, _ = w.Write([]byte(mimeMessage("x")))
				stage, err = "data", w.Close()
			}
			if stage != tt.wantStage || replyCode(err) != tt.wantCode {
				t.Fatalf("failed at %q with %v; want %q with %d", stage, err, tt.wantStage, tt.wantCode)
			}
			if sink.Count() != 0 {
				t.Errorf("Count = %d, want 0: a refused message must not be recorded", sink.Count())
			}
			if sink.Attempts() != tt.attempts {
				t.Errorf("Attempts = %d, want %d", sink.Attempts(), tt.attempts)
			}
		})
	}
}

func TestFaultTimesClearsItself(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.SetFault(smtpsink.Fault{Code: 451, Times: 1})
	if err := send(sink.Addr(), "first"); replyCode(err) != 451 {
		t.Fatalf("first send: %v, want 451", err)
	}
	for _, subject := range []string{"second", "third"} {
		if err := send(sink.Addr(), subject); err != nil {
			t.Fatalf("%s send: %v, want success once the fault is used up", subject, err)
		}
	}
	msgs := sink.WaitCount(t, 2, 5*time.Second)
	if len(msgs) != 2 || msgs[0].Header("Subject") != "second" || sink.Attempts() != 3 {
		t.Fatalf("got %d messages (first %q), %d attempts", len(msgs), msgs[0].Header("Subject"), sink.Attempts())
	}
}

func TestSetFaultClears(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.SetFault(smtpsink.Fault{Code: 550})
	if err := send(sink.Addr(), "x"); replyCode(err) != 550 {
		t.Fatalf("send: %v, want 550", err)
	}
	if err := send(sink.Addr(), "x"); replyCode(err) != 550 {
		t.Fatalf("Times 0 must last: %v", err)
	}
	sink.SetFault(smtpsink.Fault{})
	if err := send(sink.Addr(), "x"); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
}

func TestSetFaultRejectsTypos(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	for _, f := range []smtpsink.Fault{{Code: 451, Stage: "dta"}, {Code: 250}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetFault(%+v) did not panic", f)
				}
			}()
			sink.SetFault(f)
		}()
	}
}

func TestDropAfterDataRecordsButClientSeesError(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.SetFault(smtpsink.Fault{DropAfterData: true})
	c, err := smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = transaction(t, c)
	if err == nil {
		t.Fatal("closing DATA succeeded; want an error (no reply)")
	}
	if code := replyCode(err); code != 0 {
		t.Fatalf("got reply %d; want no reply at all", code)
	}
	if m := sink.WaitCount(t, 1, 5*time.Second); len(m) != 1 {
		t.Fatalf("recorded %d messages, want 1", len(m))
	}
}

func TestDropAfterAccept(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.SetFault(smtpsink.Fault{DropAfterAccept: true})
	c, err := smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := transaction(t, c); err != nil {
		t.Fatalf("DATA: %v, want 250", err)
	}
	if err := c.Reset(); err == nil {
		t.Fatal("RSET after DropAfterAccept succeeded; want a closed connection")
	}
	if sink.Count() != 1 {
		t.Fatalf("Count = %d, want 1", sink.Count())
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	const delay = 300 * time.Millisecond
	sink.SetFault(smtpsink.Fault{Delay: delay, Times: 1})
	start := time.Now()
	if err := send(sink.Addr(), "slow"); err != nil {
		t.Fatalf("send: %v", err)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("reply after %v, want at least %v", elapsed, delay)
	}
	if sink.Count() != 1 {
		t.Errorf("Count = %d, want 1", sink.Count())
	}
}

func TestStopEndsDelay(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	sink.SetFault(smtpsink.Fault{Delay: time.Hour})
	errc := make(chan error, 1)
	go func() { errc <- send(sink.Addr(), "stuck") }()
	waitFor(t, "the DATA attempt", func() bool { return sink.Attempts() == 1 })
	stopped := make(chan struct{})
	go func() { sink.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end a pending Delay")
	}
	if err := <-errc; err == nil {
		t.Fatal("send succeeded although the sink stopped during the delay")
	}
	if sink.Count() != 0 {
		t.Errorf("Count = %d, want 0", sink.Count())
	}
}

func TestStopAndRestartOnSamePort(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	addr := sink.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || sink.URL() != "smtp://"+addr {
		t.Fatalf("Addr %q, URL %q", addr, sink.URL())
	}
	if err := send(addr, "before"); err != nil {
		t.Fatalf("send: %v", err)
	}
	// A client connected across the stop sees its connection closed.
	idle, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	sink.Stop()
	if _, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		t.Fatal("dial succeeded on a stopped sink")
	}
	if err := idle.Noop(); err == nil {
		t.Fatal("a connection survived Stop")
	}

	sink.Restart(t)
	if sink.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", sink.Addr(), addr)
	}
	if err := send(addr, "after"); err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	msgs := sink.WaitCount(t, 2, 5*time.Second)
	if msgs[0].Header("Subject") != "before" || msgs[1].Header("Subject") != "after" {
		t.Errorf("subjects %q, %q", msgs[0].Header("Subject"), msgs[1].Header("Subject"))
	}
	if got := sink.Connections(); got != 3 {
		t.Errorf("Connections = %d, want 3", got)
	}
	sink.Stop()
	sink.Stop() // idempotent
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	sink := smtpsink.StartTLS(t)
	if sink.TLSConfig() == nil || sink.URL() != "smtp://"+sink.Addr() {
		t.Fatalf("TLSConfig %v, URL %q", sink.TLSConfig(), sink.URL())
	}

	// A client that does not trust the certificate fails the handshake.
	c, err := smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Error("STARTTLS succeeded without trusting the sink's certificate")
	}
	c.Close()

	c, err = smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(sink.TLSConfig()); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := transaction(t, c); err != nil {
		t.Fatalf("send over STARTTLS: %v", err)
	}
	if m := sink.WaitCount(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Error("message not marked as TLS")
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	sink := smtpsink.StartImplicitTLS(t)
	if sink.URL() != "smtps://"+sink.Addr() {
		t.Fatalf("URL = %q", sink.URL())
	}
	conn, err := tls.Dial("tcp", sink.Addr(), sink.TLSConfig())
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on an implicit TLS connection")
	}
	if err := transaction(t, c); err != nil {
		t.Fatalf("send over TLS: %v", err)
	}
	if m := sink.WaitCount(t, 1, 5*time.Second)[0]; !m.TLS {
		t.Error("message not marked as TLS")
	}
}

func TestPlainSinkHasNoTLSConfig(t *testing.T) {
	t.Parallel()
	if cfg := smtpsink.Start(t).TLSConfig(); cfg != nil {
		t.Fatalf("TLSConfig = %v, want nil", cfg)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- send(sink.Addr(), fmt.Sprintf("m%d", i)) })
		wg.Go(func() {
			sink.SetFault(smtpsink.Fault{})
			_ = sink.Messages()
			_ = sink.Count()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("send: %v", err)
		}
	}
	if got := len(sink.WaitCount(t, n, 5*time.Second)); got != n {
		t.Fatalf("got %d messages, want %d", got, n)
	}
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitCountFailsWithWhatArrived(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	if err := send(sink.Addr(), "the only one"); err != nil {
		t.Fatal(err)
	}
	fake := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sink.WaitCount(fake, 2, 100*time.Millisecond)
	}()
	<-done
	if !strings.Contains(fake.msg, "want at least 2") || !strings.Contains(fake.msg, `"the only one"`) {
		t.Fatalf("failure message %q does not say what was wanted and what arrived", fake.msg)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(5 * time.Millisecond)
	}
}
