package mailer

import (
	"net"
	"time"
)

// WithIdleTimeout overrides how long a pooled connection may idle.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) { o.idleTimeout = d }
}

// WithClock replaces time.Now for idle checks and the Date header.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// FileName exposes the outbox naming.
var FileName = fileName

// WithConnWrapper wraps each SMTP connection the pool dials (above implicit
// TLS, below STARTTLS), so that tests can watch what is written.
func WithConnWrapper(wrap func(net.Conn) net.Conn) Option {
	return func(o *options) { o.wrapConn = wrap }
}
