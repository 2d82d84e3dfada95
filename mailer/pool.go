package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"convene"
)

// quitTimeout bounds the polite QUIT when a connection is retired.
const quitTimeout = 2 * time.Second

var errClosed = errors.New("mailer is closed")

// pool keeps up to cap(slots) SMTP connections. A slot is held by each
// Send for its whole duration, whether it takes an idle connection or dials
// a new one, so there are never more than cap(slots) connections. Idle
// connections wait in idle, most recently used last.
type pool struct {
	dest        destination
	tls         *tls.Config
	timeout     time.Duration
	idleTimeout time.Duration
	now         func() time.Time
	log         *slog.Logger
	wrapConn    func(net.Conn) net.Conn

	slots   chan struct{}
	closing chan struct{}

	mu     sync.Mutex
	idle   []*conn
	closed bool
	quits  sync.WaitGroup // background QUITs of expired connections
}

func newPool(d destination, o options) *pool {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsConfig != nil {
		cfg = o.tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = d.host
	}
	return &pool{
		dest:        d,
		tls:         cfg,
		timeout:     o.timeout,
		idleTimeout: o.idleTimeout,
		now:         o.now,
		log:         o.logger,
		wrapConn:    o.wrapConn,
		slots:       make(chan struct{}, o.poolSize),
		closing:     make(chan struct{}),
	}
}

// conn is one SMTP connection: the session go-mail dialled, and the TCP
// connection under it, which we close to abort it at once.
type conn struct {
	sess     *session
	lastUsed time.Time

	mu     sync.Mutex
	raw    net.Conn
	killed bool
}

// setRaw records the TCP connection; it reports false (and closes it) when
// the conn was killed before the dial finished.
func (c *conn) setRaw(raw net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed {
		_ = raw.Close()
		return false
	}
	c.raw = raw
	return true
}

// kill closes the TCP connection without a word: any I/O in progress on it
// fails at once. It is safe to call from another goroutine and more than
// once.
func (c *conn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed = true
	if c.raw != nil {
		_ = c.raw.Close()
	}
}

// quit says QUIT, waiting at most quitTimeout, and closes the connection.
func (c *conn) quit() {
	c.mu.Lock()
	raw := c.raw
	c.mu.Unlock()
	if raw != nil {
		_ = raw.SetDeadline(time.Now().Add(quitTimeout))
	}
	_ = c.sess.quit()
	c.kill()
}

// send delivers one message, building it with newMsg for each attempt.
//
// The whole Send, waiting for a free connection included, is bounded by
// p.timeout: go-mail gives the connect, the greeting, EHLO/STARTTLS/AUTH and
// the transaction a timeout each, which would add up to several times it.
func (p *pool) send(ctx context.Context, messageID string, newMsg func() *gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return p.fail(convene.ReasonNetwork, 0, fmt.Errorf("not sent: %w", context.Cause(ctx)))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.timeout,
		fmt.Errorf("send not finished within %v: %w", p.timeout, context.DeadlineExceeded))
	defer cancel()
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return p.fail(convene.ReasonNetwork, 0, fmt.Errorf("waiting for a free SMTP connection: %w", context.Cause(ctx)))
	case <-p.closing:
		return p.fail(convene.ReasonNetwork, 0, errClosed)
	}
	defer func() { <-p.slots }()

	c, err := p.take()
	if err != nil {
		return p.fail(convene.ReasonNetwork, 0, err)
	}
	for attempt := 1; ; attempt++ {
		reused := c != nil
		if c == nil {
			if c, err = p.dial(ctx); err != nil {
				return p.fail(convene.ReasonNetwork, replyCode(err), err)
			}
		}
		stop := context.AfterFunc(ctx, c.kill)
		sendErr := c.sess.send(newMsg())
		interrupted := !stop()
		if sendErr == nil {
			// The server said 250. A connection the deadline killed
			// meanwhile is not reused, but the message is delivered.
			if interrupted {
				c.kill()
			} else {
				p.put(c)
			}
			return nil
		}
		// Never reuse a connection that saw an error: its state is unknown.
		c.kill()
		se := classify(sendErr)
		if ctx.Err() != nil {
			se.Err = fmt.Errorf("%w: %w", context.Cause(ctx), se.Err)
		}
		se.Err = fmt.Errorf("smtp %s: %w", p.dest.addr(), se.Err)
		if reused && attempt == 1 && se.Reason == convene.ReasonNetwork && ctx.Err() == nil {
			// Most likely the server dropped the idle connection and we
			// only noticed now; nothing reached it, so try a fresh one.
			p.log.Info("pooled SMTP connection failed before the message was sent; retrying on a new connection",
				"message_id", messageID, "err", sendErr)
			c = nil
			continue
		}
		return se
	}
}

// fail returns a temporary SendError.
func (p *pool) fail(reason string, code int, err error) *convene.SendError {
	return &convene.SendError{Reason: reason, Code: code, Err: fmt.Errorf("smtp %s: %w", p.dest.addr(), err)}
}

// take returns the most recently used idle connection, or nil when the
// caller must dial. Connections idle for longer than idleTimeout are retired
// on the way.
func (p *pool) take() (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	now := p.now()
	fresh := p.idle[:0]
	for _, c := range p.idle {
		if now.Sub(c.lastUsed) > p.idleTimeout {
			p.quits.Add(1) // under mu and before closed: Close waits for it
			go func() {
				defer p.quits.Done()
				c.quit()
			}()
			continue
		}
		fresh = append(fresh, c)
	}
	clear(p.idle[len(fresh):])
	p.idle = fresh
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		return c, nil
	}
	return nil, nil
}

// put returns a healthy connection to the pool.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.quit()
		return
	}
	c.lastUsed = p.now()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// dial opens a connection: TCP (and TLS for smtps), EHLO, STARTTLS when
// offered, AUTH when the URL has a user. ctx can abort every step.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	c := &conn{}
	var dialer net.Dialer
	dialFn := func(dctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dialer.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if !c.setRaw(raw) {
			return nil, fmt.Errorf("dial aborted: %w", context.Cause(ctx))
		}
		var nc net.Conn = raw
		if p.dest.implicitTLS {
			tc := tls.Client(raw, p.tls)
			if err := tc.HandshakeContext(dctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			nc = tc
		}
		if p.wrapConn != nil {
			nc = p.wrapConn(nc)
		}
		return nc, nil
	}
	// We dial TLS ourselves for smtps (to hold the TCP connection), so
	// go-mail sees a connection that is already encrypted and must not
	// try STARTTLS on it.
	policy := gomail.TLSOpportunistic
	if p.dest.implicitTLS {
		policy = gomail.NoTLS
	}
	opts := []gomail.Option{
		gomail.WithPort(p.dest.port),
		gomail.WithTimeout(p.timeout),
		gomail.WithoutNoop(),
		gomail.WithDialContextFunc(dialFn),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(p.tls),
	}
	if p.dest.user != "" {
		// PLAIN or LOGIN, whichever the server offers; go-mail refuses both
		// on an unencrypted connection to anything but localhost.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(p.dest.user),
			gomail.WithPassword(p.dest.pass),
		)
	}
	client, err := gomail.NewClient(p.dest.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP client: %w", err)
	}
	// go-mail's dial honours ctx only until TCP is up; the greeting,
	// STARTTLS and AUTH run on deadlines. Killing the connection covers
	// them too.
	stop := context.AfterFunc(ctx, c.kill)
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if !stop() {
		c.kill()
		if err == nil {
			return nil, fmt.Errorf("dial: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("dial: %w: %w", context.Cause(ctx), err)
	}
	if err != nil {
		c.kill() // go-mail leaves the connection open when EHLO, STARTTLS or AUTH fail
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.sess = newSession(sc, p.timeout)
	p.log.Debug("SMTP connection opened", "addr", p.dest.addr())
	return c, nil
}

// close retires the idle connections and refuses new sends.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.closing)
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Go(c.quit)
	}
	wg.Wait()
	p.quits.Wait()
}
