package mailer

import (
	"errors"
	"net/textproto"

	"convene"
)

// classify turns a failed, undelivered send into a SendError. The reply
// code decides when there is one (5xx permanent, 4xx temporary); without
// one, the stage does: the final "." may have reached the server, or not.
func classify(err error) *convene.SendError {
	code := replyCode(err)
	switch {
	case code >= 500 && code <= 599:
		return &convene.SendError{Permanent: true, Code: code, Reason: convene.ReasonPermanent, Err: err}
	case code >= 400 && code <= 499:
		return &convene.SendError{Code: code, Reason: convene.ReasonTemporary, Err: err}
	}
	var te *txError
	if !errors.As(err, &te) {
		// Not from the mail transaction: nothing was handed over.
		return &convene.SendError{Reason: convene.ReasonNetwork, Code: code, Err: err}
	}
	switch te.stage {
	case stageMessage:
		// The message has no usable envelope: resending cannot help.
		return &convene.SendError{Permanent: true, Reason: convene.ReasonPermanent, Err: err}
	case stageEnd:
		// The final "." went out and no acceptance came back: the server
		// may have queued the mail.
		return &convene.SendError{Reason: convene.ReasonUnknown, Code: code, Err: err}
	default:
		// MAIL, RCPT, DATA or the body failed: without the final "." the
		// server discards what it got.
		return &convene.SendError{Reason: convene.ReasonNetwork, Code: code, Err: err}
	}
}

// replyCode returns the SMTP reply code carried by err (a refusal of a
// command, or of the greeting, EHLO, STARTTLS or AUTH during dial), or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
