package mailer

import (
	"errors"
	"net/textproto"

	gomail "github.com/wneessen/go-mail"

	"convene"
)

// classify turns a failed, undelivered go-mail send into a SendError.
//
// go-mail's own verdict is not usable as it is: SendError.IsTemp only looks
// for a leading "4" in the error text, so a network error (code 0) looks
// permanent. The reply code (ErrorCode) and the stage (Reason) tell what
// happened instead.
func classify(err error) *convene.SendError {
	var ge *gomail.SendError
	if !errors.As(err, &ge) {
		// Not from the SMTP transaction: nothing was handed over.
		return &convene.SendError{Reason: convene.ReasonNetwork, Code: replyCode(err), Err: err}
	}
	code := ge.ErrorCode()
	switch {
	case code >= 500 && code <= 599:
		return &convene.SendError{Permanent: true, Code: code, Reason: convene.ReasonPermanent, Err: err}
	case code >= 400 && code <= 499:
		return &convene.SendError{Code: code, Reason: convene.ReasonTemporary, Err: err}
	}
	// No reply code: go-mail refused the message itself, or the
	// connection failed.
	switch ge.Reason {
	case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
		return &convene.SendError{Permanent: true, Reason: convene.ReasonPermanent, Err: err}
	case gomail.ErrSMTPDataClose, gomail.ErrSMTPReset:
		// The final "." went out and no reply came back: the server may
		// have queued the mail.
		return &convene.SendError{Reason: convene.ReasonUnknown, Err: err}
	default:
		// Connection check, MAIL, RCPT, DATA or the body itself failed:
		// without the final "." the server discards what it got.
		return &convene.SendError{Reason: convene.ReasonNetwork, Err: err}
	}
}

// replyCode returns the SMTP reply code carried by err (a greeting, EHLO,
// STARTTLS or AUTH refusal during dial), or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
