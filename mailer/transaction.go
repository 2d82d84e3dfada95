package mailer

import (
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Where a mail transaction failed; classify reads it.
const (
	// stageMessage: the message has no usable envelope. Nothing was sent.
	stageMessage = "message"
	// stageEnvelope: MAIL, RCPT or DATA failed. The server discards what
	// it got, as no final "." reached it.
	stageEnvelope = "envelope"
	// stageBody: writing the message failed before the final ".".
	stageBody = "body"
	// stageEnd: the final "." was written, and no reply (or no sensible
	// one) came back: the server may have queued the mail.
	stageEnd = "end"
)

// txError is a failed mail transaction: the stage and the cause. A reply
// from the server is a *textproto.Error in the chain (see replyCode).
type txError struct {
	stage string
	err   error
}

func (e *txError) Error() string {
	switch e.stage {
	case stageMessage:
		return "message not sendable: " + e.err.Error()
	case stageEnvelope:
		return "envelope (MAIL, RCPT, DATA): " + e.err.Error()
	case stageBody:
		return "writing the message: " + e.err.Error()
	default:
		return "after the end of the message: " + e.err.Error()
	}
}

func (e *txError) Unwrap() error { return e.err }

// session is the SMTP protocol state of one pooled connection.
type session struct {
	client     *smtp.Client
	timeout    time.Duration
	pipelining bool   // the server offers PIPELINING (RFC 2920)
	mailParams string // parameters added to every MAIL FROM
}

func newSession(c *smtp.Client, timeout time.Duration) *session {
	s := &session{client: c, timeout: timeout}
	s.pipelining, _ = c.Extension("PIPELINING")
	// The parameters go-mail's own transaction sends.
	if ok, _ := c.Extension("8BITMIME"); ok {
		s.mailParams += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		s.mailParams += " SMTPUTF8"
	}
	return s
}

// send runs one mail transaction for msg. It returns nil exactly when the
// server replied 250 to the end of the message.
//
// When the server offers PIPELINING, MAIL, RCPT and DATA leave in one
// write and their replies are read together (RFC 2920 lets DATA end a
// group), so a mail costs two round trips: the envelope, and the message.
// Otherwise each command waits for its reply. No RSET follows: a completed
// transaction leaves the session ready for the next MAIL (RFC 5321, 4.1.1.4),
// and a connection that saw an error is never used again.
func (s *session) send(msg *gomail.Msg) error {
	from, err := msg.GetSender(false)
	if err != nil {
		return &txError{stageMessage, err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return &txError{stageMessage, err}
	}
	cmds := make([]string, 0, len(rcpts)+2)
	cmds = append(cmds, "MAIL FROM:"+from+s.mailParams)
	for _, r := range rcpts {
		cmds = append(cmds, "RCPT TO:"+r)
	}
	cmds = append(cmds, "DATA")
	for _, c := range cmds {
		if strings.ContainsAny(c, "\r\n") {
			return &txError{stageMessage, fmt.Errorf("command %q holds a line break", c)}
		}
	}
	// The replies each command expects: 250 to MAIL, 250 or 251 to RCPT,
	// 354 to DATA.
	want := func(i int) int {
		switch i {
		case 0:
			return 250
		case len(cmds) - 1:
			return 354
		}
		return 25
	}

	if err := s.client.UpdateDeadline(s.timeout); err != nil {
		return &txError{stageEnvelope, err}
	}
	// The smtp.Client is used by one goroutine at a time (the pool's slot),
	// so its textproto connection is driven directly.
	t := s.client.Text
	if s.pipelining {
		for _, c := range cmds {
			_, _ = t.W.WriteString(c)
			_, _ = t.W.WriteString("\r\n")
		}
		if err := t.W.Flush(); err != nil {
			return &txError{stageEnvelope, err}
		}
		// The first refusal decides; the replies after it (typically 503s
		// to the commands that depended on it) stay unread, as the
		// connection is closed.
		for i := range cmds {
			if _, _, err := t.ReadResponse(want(i)); err != nil {
				return &txError{stageEnvelope, err}
			}
		}
	} else {
		for i, c := range cmds {
			if err := t.PrintfLine("%s", c); err != nil {
				return &txError{stageEnvelope, err}
			}
			if _, _, err := t.ReadResponse(want(i)); err != nil {
				return &txError{stageEnvelope, err}
			}
		}
	}

	w := t.DotWriter()
	if _, err := msg.WriteTo(w); err != nil {
		return &txError{stageBody, err}
	}
	// Close writes the final "." and flushes. If that write fails, part of
	// it may have arrived.
	if err := w.Close(); err != nil {
		return &txError{stageEnd, err}
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return &txError{stageEnd, err}
	}
	return nil
}

// quit says QUIT and closes the connection.
func (s *session) quit() error {
	return s.client.Quit()
}
