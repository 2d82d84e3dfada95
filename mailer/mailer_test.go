package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"convene"
	"convene/internal/smtpsink"
	"convene/mailer"
)

const (
	from     = "Convene <noreply@convene.example>"
	calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m1@convene.example\r\nSUMMARY:Sommerfest\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

// confirmation returns an Email like the confirmation template renders.
func confirmation(messageID string) convene.Email {
	return convene.Email{
		Kind:           convene.EmailConfirmation,
		MeetingID:      "m1",
		RegistrationID: "r1",
		MessageID:      messageID,
		To:             convene.Address{Name: "Zoë Müller", Address: "zoe@example.net"},
		Subject:        "Bestätigung: Sommerfest ✓",
		Text:           "Hallo Zoë,\n\ndu bist angemeldet.\n",
		HTML:           "<p>Hallo Zoë,</p><p>du bist angemeldet.</p>",
		Attachments: []convene.Attachment{{
			Filename:    "invite.ics",
			ContentType: "text/calendar; charset=utf-8; method=REQUEST",
			Data:        []byte(calendar),
		}},
		ListUnsubscribe: "https://convene.example/u/tok123",
	}
}

// newMailer returns a Mailer for url that is closed when the test ends.
func newMailer(t *testing.T, url string, opts ...mailer.Option) *mailer.Mailer {
	t.Helper()
	opts = append([]mailer.Option{mailer.WithTimeout(5 * time.Second)}, opts...)
	m, err := mailer.New(url, from, opts...)
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// setup starts a plain sink and a Mailer pointed at it.
func setup(t *testing.T, opts ...mailer.Option) (*smtpsink.Sink, *mailer.Mailer) {
	t.Helper()
	sink := smtpsink.Start(t)
	return sink, newMailer(t, sink.URL(), opts...)
}

// sendError asserts that err is a *convene.SendError and returns it.
func sendError(t *testing.T, err error) *convene.SendError {
	t.Helper()
	var se *convene.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *convene.SendError", err, err)
	}
	return se
}

// lf normalises line ends for comparing bodies.
func lf(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

// headerSection returns the raw header lines of a message.
func headerSection(data []byte) []string {
	head, _, _ := strings.Cut(string(data), "\r\n\r\n")
	return strings.Split(head, "\r\n")
}

func TestSendConfirmation(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	if got := m.From(); got != (convene.Address{Name: "Convene", Address: "noreply@convene.example"}) {
		t.Errorf("From() = %+v", got)
	}
	e := confirmation("confirmation.1.r1.m1@convene.example")
	if err := m.Send(t.Context(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := sink.WaitCount(t, 1, 5*time.Second)[0]

	if msg.From != "noreply@convene.example" || len(msg.To) != 1 || msg.To[0] != "zoe@example.net" {
		t.Errorf("envelope %q -> %q", msg.From, msg.To)
	}
	headers := map[string]string{
		"To":                     "Zoë Müller <zoe@example.net>",
		"Subject":                "Bestätigung: Sommerfest ✓",
		"Message-ID":             "<confirmation.1.r1.m1@convene.example>",
		"X-Convene-Kind":         "confirmation",
		"X-Convene-Meeting":      "m1",
		"X-Convene-Registration": "r1",
		"List-Unsubscribe":       "<https://convene.example/u/tok123>",
		"List-Unsubscribe-Post":  "List-Unsubscribe=One-Click",
		"MIME-Version":           "1.0",
	}
	for name, want := range headers {
		if got := msg.Header(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if a, err := netmail.ParseAddress(msg.Header("From")); err != nil || a.Name != "Convene" || a.Address != "noreply@convene.example" {
		t.Errorf("From = %q (%v)", msg.Header("From"), err)
	}
	if _, err := netmail.ParseDate(msg.Header("Date")); err != nil {
		t.Errorf("Date %q: %v", msg.Header("Date"), err)
	}
	for _, line := range headerSection(msg.Data) {
		for _, r := range line {
			if r > 0x7e {
				t.Fatalf("raw header line %q is not ASCII: non-ASCII must be encoded", line)
			}
		}
	}

	var types []string
	for _, p := range msg.Parts() {
		types = append(types, p.ContentType)
	}
	if got := strings.Join(types, ","); got != "text/plain,text/html,text/calendar" {
		t.Fatalf("parts = %s", got)
	}
	text, _ := msg.Part("text/plain")
	if lf(text.Body) != e.Text || !strings.EqualFold(text.Params["charset"], "utf-8") {
		t.Errorf("text part %q %v", text.Body, text.Params)
	}
	html, _ := msg.Part("text/html")
	if lf(html.Body) != e.HTML || !strings.EqualFold(html.Params["charset"], "utf-8") {
		t.Errorf("html part %q %v", html.Body, html.Params)
	}
	if !strings.Contains(string(msg.Data), "Content-Transfer-Encoding: quoted-printable") {
		t.Error("bodies are not quoted-printable")
	}
	cal, _ := msg.Part("text/calendar")
	if cal.Params["method"] != "REQUEST" || cal.Params["charset"] != "utf-8" {
		t.Errorf("calendar Content-Type params = %v, want method=REQUEST and charset=utf-8", cal.Params)
	}
	if cal.Filename != "invite.ics" || string(cal.Body) != calendar {
		t.Errorf("calendar part: filename %q, body %q", cal.Filename, cal.Body)
	}
}

func TestSendWithoutOptionalParts(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	e := convene.Email{
		Kind:      convene.EmailDigest,
		MessageID: "digest.2024-06-01.x@convene.example",
		To:        convene.Address{Address: "org@example.net"},
		Subject:   "Digest",
		Text:      "Three new registrations.\n",
	}
	if err := m.Send(t.Context(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := sink.WaitCount(t, 1, 5*time.Second)[0]
	for _, h := range []string{"X-Convene-Meeting", "X-Convene-Registration", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if got := msg.Header(h); got != "" {
			t.Errorf("%s = %q, want absent", h, got)
		}
	}
	if got := msg.Header("X-Convene-Kind"); got != "digest" {
		t.Errorf("X-Convene-Kind = %q", got)
	}
	if got := msg.Header("To"); got != "<org@example.net>" {
		t.Errorf("To = %q", got)
	}
	parts := msg.Parts()
	if len(parts) != 1 || parts[0].ContentType != "text/plain" || lf(parts[0].Body) != e.Text {
		t.Errorf("parts = %+v, want the text alone", parts)
	}
}

func TestHeaderInjectionIsDefused(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	e := confirmation("confirmation.1.r1.m1@convene.example")
	e.To.Name = "Eve\r\nBcc: victim@evil.example"
	e.Subject = "Hallo\r\nX-Injected: yes\r\n\r\nbody"
	e.MeetingID = "m1\r\nX-Injected-Meeting: yes"
	if err := m.Send(t.Context(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg := sink.WaitCount(t, 1, 5*time.Second)[0]
	if len(msg.To) != 1 || msg.To[0] != "zoe@example.net" {
		t.Fatalf("envelope recipients %q, want exactly zoe@example.net", msg.To)
	}
	to, err := netmail.ParseAddressList(msg.Header("To"))
	if err != nil || len(to) != 1 || to[0].Address != "zoe@example.net" {
		t.Fatalf("To header %q parses to %v, %v; want one recipient", msg.Header("To"), to, err)
	}
	if strings.ContainsAny(to[0].Name, "\r\n") {
		t.Errorf("recipient name %q still has a line break", to[0].Name)
	}
	for _, h := range []string{"Bcc", "X-Injected", "X-Injected-Meeting"} {
		if got := msg.Header(h); got != "" {
			t.Errorf("injected header %s: %q", h, got)
		}
	}
	for _, line := range headerSection(msg.Data) {
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "bcc:") || strings.HasPrefix(l, "x-injected") {
			t.Errorf("raw header line %q was injected", line)
		}
	}
	if got := msg.Header("Subject"); got != e.Subject {
		t.Errorf("Subject = %q, want the original text, encoded in one header: %q", got, e.Subject)
	}
}

func TestInvalidEmailIsPermanentAndNotSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*convene.Email)
		want   string
	}{
		{"recipient without @", func(e *convene.Email) { e.To.Address = "not an address" }, "recipient"},
		{"two recipients", func(e *convene.Email) { e.To.Address = "a@example.net, b@example.net" }, "recipient"},
		{"named recipient address", func(e *convene.Email) { e.To.Address = "Bob <bob@example.net>" }, "bare address"},
		{"recipient with CRLF", func(e *convene.Email) { e.To.Address = "a@example.net\r\nRCPT TO:<b@example.net>" }, "recipient"},
		{"message id with space", func(e *convene.Email) { e.MessageID = "a b@convene.example" }, "message ID"},
		{"message id with brackets", func(e *convene.Email) { e.MessageID = "<a@convene.example>" }, "message ID"},
		{"message id without @", func(e *convene.Email) { e.MessageID = "abc" }, "message ID"},
		{"bad content type", func(e *convene.Email) { e.Attachments[0].ContentType = "calendar" }, "content type"},
		{"unsubscribe not http", func(e *convene.Email) { e.ListUnsubscribe = "javascript:alert(1)" }, "unsubscribe"},
		{"unsubscribe with bracket", func(e *convene.Email) { e.ListUnsubscribe = "https://x.example/u?a=>b" }, "unsubscribe"},
	}
	sink, m := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := confirmation("c.1.r1.m1@convene.example")
			tt.change(&e)
			err := m.Send(t.Context(), e)
			se := sendError(t, err)
			if !se.Permanent || se.Reason != convene.ReasonPermanent || se.Code != 0 {
				t.Errorf("got %+v, want permanent, code 0", se)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	t.Cleanup(func() {
		if n := sink.Connections(); n != 0 {
			t.Errorf("sink saw %d connections; invalid emails must fail before dialling", n)
		}
	})
}

func TestReplyCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     smtpsink.Fault
		permanent bool
		code      int
		reason    string
	}{
		{"451 at data", smtpsink.Fault{Code: 451}, false, 451, convene.ReasonTemporary},
		{"550 at data", smtpsink.Fault{Code: 550}, true, 550, convene.ReasonPermanent},
		{"421 at mail", smtpsink.Fault{Code: 421, Stage: "mail"}, false, 421, convene.ReasonTemporary},
		{"553 at mail", smtpsink.Fault{Code: 553, Stage: "mail"}, true, 553, convene.ReasonPermanent},
		{"452 at rcpt", smtpsink.Fault{Code: 452, Stage: "rcpt"}, false, 452, convene.ReasonTemporary},
		{"550 at rcpt", smtpsink.Fault{Code: 550, Stage: "rcpt"}, true, 550, convene.ReasonPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink, m := setup(t)
			sink.SetFault(tt.fault)
			err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example"))
			se := sendError(t, err)
			if se.Permanent != tt.permanent || se.Code != tt.code || se.Reason != tt.reason {
				t.Errorf("got permanent=%v code=%d reason=%s (%v); want %v %d %s",
					se.Permanent, se.Code, se.Reason, err, tt.permanent, tt.code, tt.reason)
			}
			if convene.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v", convene.IsPermanent(err))
			}
			if sink.Count() != 0 {
				t.Errorf("sink recorded %d messages", sink.Count())
			}
			// A reply is never retried inside Send.
			wantAttempts := 0 // a refusal at MAIL or RCPT never reaches DATA
			if tt.fault.Stage == "" {
				wantAttempts = 1
			}
			if sink.Attempts() != wantAttempts {
				t.Errorf("Attempts = %d, want %d", sink.Attempts(), wantAttempts)
			}
		})
	}
}

func TestDropAfterDataIsUnknownOutcome(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	sink.SetFault(smtpsink.Fault{DropAfterData: true, Times: 1})
	err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example"))
	se := sendError(t, err)
	if se.Permanent || se.Reason != convene.ReasonUnknown || se.Code != 0 {
		t.Errorf("got %+v, want temporary unknown outcome with code 0", se)
	}
	if n := len(sink.WaitCount(t, 1, 5*time.Second)); n != 1 {
		t.Errorf("sink recorded %d, want 1: the mail did arrive", n)
	}
	if sink.Attempts() != 1 {
		t.Errorf("Attempts = %d, want 1: an unknown outcome is not retried", sink.Attempts())
	}
}

func TestDropAfterAcceptIsSuccess(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	sink.SetFault(smtpsink.Fault{DropAfterAccept: true, Times: 1})
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send = %v, want nil: the server said 250", err)
	}
	if err := m.Send(t.Context(), confirmation("c.2.r1.m1@convene.example")); err != nil {
		t.Fatalf("next Send = %v", err)
	}
	if sink.Count() != 2 || sink.Attempts() != 2 {
		t.Errorf("Count %d, Attempts %d; want 2, 2", sink.Count(), sink.Attempts())
	}
	if sink.Connections() != 2 {
		t.Errorf("Connections = %d, want 2: the broken connection must be replaced", sink.Connections())
	}
}

func TestStoppedServerIsNetworkError(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	sink.Stop()
	err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example"))
	se := sendError(t, err)
	if se.Permanent || se.Reason != convene.ReasonNetwork || se.Code != 0 {
		t.Errorf("got %+v, want temporary network error with code 0", se)
	}
}

func TestPoolReusesConnections(t *testing.T) {
	t.Parallel()
	t.Run("sequential sends share one connection", func(t *testing.T) {
		t.Parallel()
		sink, m := setup(t)
		for i := range 5 {
			if err := m.Send(t.Context(), confirmation(fmt.Sprintf("c.%d.r1.m1@convene.example", i))); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
		if got := sink.Connections(); got != 1 {
			t.Errorf("Connections = %d, want 1", got)
		}
	})
	t.Run("20 concurrent sends with pool size 2", func(t *testing.T) {
		t.Parallel()
		sink, m := setup(t, mailer.WithPoolSize(2))
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				errs <- m.Send(t.Context(), confirmation(fmt.Sprintf("c.%d.r1.m1@convene.example", i)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Send: %v", err)
			}
		}
		if got := sink.Count(); got != 20 {
			t.Errorf("Count = %d, want 20", got)
		}
		if got := sink.Connections(); got > 2 {
			t.Errorf("Connections = %d, want at most 2", got)
		}
	})
}

func TestRecoversConnectionClosedByServer(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	sink.Stop() // closes the pooled connection under the mailer's feet
	sink.Restart(t)
	if err := m.Send(t.Context(), confirmation("c.2.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send on a connection the server closed: %v, want a silent retry", err)
	}
	msgs := sink.WaitCount(t, 2, 5*time.Second)
	if got := msgs[1].Header("Message-ID"); got != "<c.2.r1.m1@convene.example>" {
		t.Errorf("second message %q", got)
	}
	if sink.Connections() != 2 || sink.Attempts() != 2 {
		t.Errorf("Connections %d, Attempts %d; want 2, 2", sink.Connections(), sink.Attempts())
	}
}

func TestReplyOnReusedConnectionIsNotRetried(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	// One 421 at MAIL: a retry would succeed, so an error proves there was none.
	sink.SetFault(smtpsink.Fault{Code: 421, Stage: "mail", Times: 1})
	err := m.Send(t.Context(), confirmation("c.2.r1.m1@convene.example"))
	if se := sendError(t, err); se.Code != 421 || se.Permanent {
		t.Fatalf("got %+v, want temporary 421", se)
	}
	if err := m.Send(t.Context(), confirmation("c.3.r1.m1@convene.example")); err != nil {
		t.Fatalf("third Send: %v", err)
	}
	if sink.Count() != 2 {
		t.Errorf("Count = %d, want 2", sink.Count())
	}
}

func TestIdleConnectionIsRedialled(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	sink, m := setup(t, mailer.WithClock(clock))
	send := func(id string) {
		t.Helper()
		if err := m.Send(t.Context(), confirmation(id)); err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
	}
	send("c.1.r1.m1@convene.example")
	offset.Add(int64(9 * time.Second))
	send("c.2.r1.m1@convene.example")
	if got := sink.Connections(); got != 1 {
		t.Fatalf("after 9 s idle: Connections = %d, want 1 (reused)", got)
	}
	offset.Add(int64(11 * time.Second))
	send("c.3.r1.m1@convene.example")
	if got := sink.Connections(); got != 2 {
		t.Fatalf("after 11 s idle: Connections = %d, want 2 (redialled)", got)
	}
	if sink.Attempts() != 3 {
		t.Errorf("Attempts = %d, want 3: an expired connection is not tried first", sink.Attempts())
	}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	sink := smtpsink.StartTLS(t)
	m := newMailer(t, sink.URL(), mailer.WithTLSConfig(sink.TLSConfig()))
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send over STARTTLS: %v", err)
	}
	if msg := sink.WaitCount(t, 1, 5*time.Second)[0]; !msg.TLS {
		t.Error("message did not arrive over TLS")
	}

	// Without trusting the certificate the handshake fails: nothing is
	// sent in clear after STARTTLS was offered.
	untrusting := newMailer(t, sink.URL())
	err := untrusting.Send(t.Context(), confirmation("c.2.r1.m1@convene.example"))
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonNetwork {
		t.Errorf("got %+v, want a temporary network error", se)
	}
	if sink.Count() != 1 {
		t.Errorf("Count = %d, want 1", sink.Count())
	}
}

func TestImplicitTLSWithAuth(t *testing.T) {
	t.Parallel()
	sink := smtpsink.StartImplicitTLS(t)
	url := strings.Replace(sink.URL(), "smtps://", "smtps://alice:s3cr%40t@", 1)
	m := newMailer(t, url, mailer.WithTLSConfig(sink.TLSConfig()))
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send over smtps: %v", err)
	}
	msg := sink.WaitCount(t, 1, 5*time.Second)[0]
	if !msg.TLS || msg.User != "alice" {
		t.Errorf("TLS %v, User %q; want TLS and alice", msg.TLS, msg.User)
	}
}

func TestPlainAuth(t *testing.T) {
	t.Parallel()
	sink := smtpsink.Start(t)
	url := strings.Replace(sink.URL(), "smtp://", "smtp://bob:pw@", 1)
	m := newMailer(t, url)
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send with AUTH: %v", err)
	}
	if msg := sink.WaitCount(t, 1, 5*time.Second)[0]; msg.User != "bob" {
		t.Errorf("User = %q, want bob", msg.User)
	}
}

func TestContextDeadlineDuringReply(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	sink.SetFault(smtpsink.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Send(ctx, confirmation("c.1.r1.m1@convene.example"))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send returned after %v; the context ended after 200ms", elapsed)
	}
	se := sendError(t, err)
	if se.Permanent || se.Reason != convene.ReasonUnknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %+v (%v), want temporary unknown outcome wrapping the deadline", se, err)
	}
}

func TestTimeoutWaitingForReply(t *testing.T) {
	t.Parallel()
	sink, m := setup(t, mailer.WithTimeout(300*time.Millisecond))
	sink.SetFault(smtpsink.Fault{Delay: time.Hour})
	err := m.Send(context.Background(), confirmation("c.1.r1.m1@convene.example"))
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonUnknown {
		t.Errorf("got %+v, want temporary unknown outcome", se)
	}
}

// rawServer accepts TCP connections and hands each to handle; it is not
// an SMTP server, just a misbehaving peer.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	return "smtp://" + ln.Addr().String()
}

func TestSilentServerIsBoundedByTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	url := rawServer(t, func(net.Conn) { <-release }) // never greets
	t.Cleanup(func() { close(release) })              // runs before rawServer's cleanup
	m := newMailer(t, url, mailer.WithTimeout(300*time.Millisecond))
	start := time.Now()
	err := m.Send(context.Background(), confirmation("c.1.r1.m1@convene.example"))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Send took %v with a 300ms timeout", elapsed)
	}
	// go-mail's read deadline and the Send's own bound are equal here;
	// either may fire first.
	var timeout net.Error
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonNetwork || !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("got %+v (%v), want a temporary network error wrapping a timeout", se, err)
	}
}

func TestRefusingGreetingIsTemporary(t *testing.T) {
	t.Parallel()
	url := rawServer(t, func(c net.Conn) { fmt.Fprint(c, "554 5.7.1 no service for you\r\n") })
	m := newMailer(t, url)
	err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example"))
	// A refusal before the transaction is about the connection, not this
	// message: another attempt later may well succeed.
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonNetwork || se.Code != 554 {
		t.Errorf("got %+v, want temporary network error with code 554", se)
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := m.Send(ctx, confirmation("c.1.r1.m1@convene.example"))
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonNetwork || !errors.Is(err, context.Canceled) {
		t.Errorf("got %+v, want temporary network error wrapping context.Canceled", se)
	}
	if sink.Connections() != 0 {
		t.Errorf("Connections = %d, want 0", sink.Connections())
	}
}

func TestWaitingForConnectionRespectsContext(t *testing.T) {
	t.Parallel()
	sink, m := setup(t, mailer.WithPoolSize(1))
	sink.SetFault(smtpsink.Fault{Delay: time.Hour})
	busyCtx, stopBusy := context.WithCancel(t.Context())
	busy := make(chan error, 1)
	go func() { busy <- m.Send(busyCtx, confirmation("c.1.r1.m1@convene.example")) }()
	waitFor(t, "the first send to reach DATA", func() bool { return sink.Attempts() == 1 })

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := m.Send(ctx, confirmation("c.2.r1.m1@convene.example"))
	if se := sendError(t, err); se.Reason != convene.ReasonNetwork || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %+v, want a network error wrapping the deadline", se)
	}
	if sink.Connections() != 1 {
		t.Errorf("Connections = %d, want 1: pool size 1", sink.Connections())
	}
	stopBusy()
	if err := <-busy; !errors.Is(err, context.Canceled) {
		t.Errorf("busy send: %v, want context.Canceled", err)
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- m.Send(t.Context(), confirmation(fmt.Sprintf("c.%d.r1.m1@convene.example", i)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	seen := map[string]int{}
	for _, msg := range sink.WaitCount(t, n, 10*time.Second) {
		seen[msg.Header("Message-ID")]++
	}
	for i := range n {
		if id := fmt.Sprintf("<c.%d.r1.m1@convene.example>", i); seen[id] != 1 {
			t.Errorf("%s arrived %d times", id, seen[id])
		}
	}
	if got := sink.Connections(); got > 8 {
		t.Errorf("Connections = %d, want at most the default pool size 8", got)
	}
}

func TestCloseRefusesLaterSends(t *testing.T) {
	t.Parallel()
	sink, m := setup(t)
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := m.Send(t.Context(), confirmation("c.2.r1.m1@convene.example"))
	if se := sendError(t, err); se.Permanent || se.Reason != convene.ReasonNetwork {
		t.Errorf("Send after Close: %+v, want temporary", se)
	}
	if sink.Count() != 1 {
		t.Errorf("Count = %d, want 1", sink.Count())
	}
}

// emlFiles lists the visible files in dir and fails on leftovers.
func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("unexpected file %s in the outbox", e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	return names
}

func readEML(t *testing.T, path string) *netmail.Message {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	msg, err := netmail.ReadMessage(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return msg
}

func TestFileOutbox(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox", "new") // created by New
	m := newMailer(t, "file://"+dir)
	e := confirmation("confirmation.1.r1.m1@convene.example")
	if err := m.Send(t.Context(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	const name = "confirmation.1.r1.m1@convene.example.eml"
	if got := emlFiles(t, dir); len(got) != 1 || got[0] != name {
		t.Fatalf("files = %v, want [%s]", got, name)
	}
	msg := readEML(t, filepath.Join(dir, name))
	if got := msg.Header.Get("Message-ID"); got != "<confirmation.1.r1.m1@convene.example>" {
		t.Errorf("Message-ID = %q", got)
	}
	if !strings.Contains(msg.Header.Get("Content-Type"), "multipart/mixed") {
		t.Errorf("Content-Type = %q", msg.Header.Get("Content-Type"))
	}

	e.Subject = "resent"
	if err := m.Send(t.Context(), e); err != nil {
		t.Fatalf("resend: %v", err)
	}
	if got := emlFiles(t, dir); len(got) != 1 {
		t.Fatalf("after a resend: files = %v, want one", got)
	}
	if got := readEML(t, filepath.Join(dir, name)).Header.Get("Subject"); got != "resent" {
		t.Errorf("after a resend the file has Subject %q, want the new one", got)
	}

	if err := m.Send(t.Context(), confirmation("confirmation.2.r1.m1@convene.example")); err != nil {
		t.Fatal(err)
	}
	if got := emlFiles(t, dir); len(got) != 2 {
		t.Errorf("files = %v, want two", got)
	}
}

func TestFileOutboxRelative(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(cwd, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := newMailer(t, "file://./"+filepath.ToSlash(rel))
	if err := m.Send(t.Context(), confirmation("c.1.r1.m1@convene.example")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := emlFiles(t, dir); len(got) != 1 || got[0] != "c.1.r1.m1@convene.example.eml" {
		t.Errorf("files = %v", got)
	}
}

func TestFileNameIsSafeAndDistinct(t *testing.T) {
	t.Parallel()
	ids := []string{"../../etc/passwd@x", "a/b@x", "a_b@x", ".hidden@x", strings.Repeat("long", 100) + "@x"}
	seen := map[string]string{}
	for _, id := range ids {
		name := mailer.FileName(id)
		if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".eml") || len(name) > 200 {
			t.Errorf("FileName(%q) = %q is not a safe name", id, name)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("%q and %q share the file name %q", id, other, name)
		}
		seen[name] = id
		if again := mailer.FileName(id); again != name {
			t.Errorf("FileName(%q) is not stable: %q, %q", id, name, again)
		}
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, from string
		opts      []mailer.Option
		want      string
	}{
		{"", from, nil, "empty"},
		{"http://mail.example", from, nil, `unknown scheme "http"`},
		{"mail.example:25", from, nil, "scheme"},
		{"smtp://", from, nil, "no host"},
		{"smtp://:25", from, nil, "no host"},
		{"smtps://user:pw@", from, nil, "no host"},
		{"smtp://mail.example:99999", from, nil, "invalid port"},
		{"smtp://mail.example:0", from, nil, "invalid port"},
		{"smtp://user:hunter2@mail.example:abc", from, nil, "port"},
		{"smtp://mail.example/path", from, nil, "path"},
		{"smtp://mail.example?tls=no", from, nil, "query"},
		{"smtp://:pw@mail.example", from, nil, "no user"},
		{"smtp://mail example", from, nil, "cannot be parsed"},
		{"file://", from, nil, "no directory"},
		{"file://otherhost/dir", from, nil, `host "otherhost"`},
		{"smtp://mail.example", "", nil, "from address is empty"},
		{"smtp://mail.example", "not an address", nil, `from address "not an address"`},
		{"smtp://mail.example", "Convene <noreply@>", nil, "from address"},
		{"smtp://mail.example", from, []mailer.Option{mailer.WithPoolSize(0)}, "pool size"},
		{"smtp://mail.example", from, []mailer.Option{mailer.WithTimeout(0)}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.from, func(t *testing.T) {
			t.Parallel()
			m, err := mailer.New(tt.url, tt.from, tt.opts...)
			if err == nil {
				m.Close()
				t.Fatalf("New(%q, %q) succeeded", tt.url, tt.from)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestNewAcceptsURLForms(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"smtp://mail.example",
		"SMTP://mail.example:587/",
		"smtps://user:p%40ss@mail.example",
		"smtp://[::1]:2525",
	} {
		m, err := mailer.New(url, "noreply@convene.example")
		if err != nil {
			t.Errorf("New(%q): %v", url, err)
			continue
		}
		if got := m.From(); got != (convene.Address{Address: "noreply@convene.example"}) {
			t.Errorf("From() = %+v", got)
		}
		m.Close()
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
