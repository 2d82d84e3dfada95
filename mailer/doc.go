// Package mailer delivers Convene's rendered emails with go-mail: over SMTP
// through a small pool of persistent connections, or into a directory of
// .eml files for development.
//
// The destination is a URL (MAIL_URL):
//
//	smtp://[user:pass@]host[:port]   port 25 by default; STARTTLS when offered
//	smtps://[user:pass@]host[:port]  implicit TLS, port 465 by default
//	file:///abs/dir                  one .eml per Message-ID in the directory
//	file://./relative/dir
//
// go-mail builds each message, dials and greets; the mail transaction is
// Convene's own (transaction.go): with PIPELINING the envelope (MAIL, RCPT,
// DATA) leaves in one write, and no RSET follows a delivered mail, so an
// email costs two round trips instead of five.
//
// Send reports every failure as a *convene.SendError that says whether
// retrying can help: a 5xx reply is permanent; a 4xx reply, a network
// failure before the message was handed over, and a connection lost after
// the message body (the mail may have arrived: resend it with the same
// Message-ID) are temporary. A mail the server accepted is a success even if
// the connection broke afterwards.
package mailer
