package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"convene"
)

// DefaultTimeout is the default bound on one SMTP Send: waiting for a free
// connection, dialling (TCP, TLS, EHLO, STARTTLS, AUTH) and the mail
// transaction together. A Send returns within it (plus a moment to close
// the connection), so a worker whose shutdown waits longer than this never
// abandons a send halfway.
const DefaultTimeout = 30 * time.Second

// DefaultPoolSize is the default number of SMTP connections (WithPoolSize).
const DefaultPoolSize = 8

const (
	// idleTimeout is how long a pooled connection may sit unused before it
	// is redialled: servers drop idle clients (Postfix after 300 s, some
	// providers after 10 s).
	idleTimeout = 10 * time.Second
)

// Mailer sends convene.Emails. It is safe for concurrent use.
type Mailer struct {
	from   convene.Address
	sender netmail.Address
	log    *slog.Logger
	now    func() time.Time

	pool   *pool  // SMTP destinations
	outbox string // file destinations
}

// Option configures a Mailer.
type Option func(*options)

type options struct {
	poolSize    int
	timeout     time.Duration
	tlsConfig   *tls.Config
	logger      *slog.Logger
	idleTimeout time.Duration
	now         func() time.Time
	wrapConn    func(net.Conn) net.Conn // for tests: wraps each SMTP connection
}

// WithPoolSize sets the most SMTP connections kept open and used at once
// (default 8). A Send waits for a free connection.
func WithPoolSize(n int) Option {
	return func(o *options) { o.poolSize = n }
}

// WithTimeout sets the SMTP timeout (default DefaultTimeout). It bounds
// each dial and command, and also the whole Send, waiting for a free
// connection included.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithTLSConfig sets the TLS configuration for STARTTLS and smtps, for
// tests and private CAs. An empty ServerName is filled with the URL's host.
func WithTLSConfig(c *tls.Config) Option {
	return func(o *options) { o.tlsConfig = c }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// New returns a Mailer that sends to mailURL (MAIL_URL) as from (MAIL_FROM,
// "Name <addr>" or "addr"). Errors name the problem but never the
// password; the caller adds which variable was wrong.
func New(mailURL, from string, opts ...Option) (*Mailer, error) {
	o := options{
		poolSize:    DefaultPoolSize,
		timeout:     DefaultTimeout,
		idleTimeout: idleTimeout,
		now:         time.Now,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.poolSize < 1 {
		return nil, fmt.Errorf("mailer: pool size %d: must be at least 1", o.poolSize)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("mailer: timeout %v: must be positive", o.timeout)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}

	sender, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	d, err := parseURL(mailURL)
	if err != nil {
		return nil, err
	}
	m := &Mailer{
		from:   convene.Address{Name: sender.Name, Address: sender.Address},
		sender: *sender,
		log:    o.logger,
		now:    o.now,
	}
	if d.scheme == "file" {
		if err := ensureDir(d.dir); err != nil {
			return nil, fmt.Errorf("mail URL: outbox directory: %w", err)
		}
		m.outbox = d.dir
		return m, nil
	}
	m.pool = newPool(d, o)
	return m, nil
}

// parseFrom parses MAIL_FROM.
func parseFrom(from string) (*netmail.Address, error) {
	if strings.TrimSpace(from) == "" {
		return nil, errors.New("mail from address is empty: want \"Name <addr@domain>\" or \"addr@domain\"")
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail from address %q: %v: want \"Name <addr@domain>\" or \"addr@domain\"", from, err)
	}
	return a, nil
}

// From returns the parsed sender address (MAIL_FROM).
func (m *Mailer) From() convene.Address { return m.from }

// Close closes the pooled SMTP connections, politely (QUIT). Sends still
// running finish and close their connection; later SMTP Sends fail with a
// temporary error. For a file outbox Close does nothing.
func (m *Mailer) Close() error {
	if m.pool != nil {
		m.pool.close()
	}
	return nil
}

// Send delivers e. It returns nil when the server accepted the message (or
// the file was written), and otherwise always a *convene.SendError.
func (m *Mailer) Send(ctx context.Context, e convene.Email) error {
	p, err := m.prepare(e)
	if err != nil {
		return &convene.SendError{Permanent: true, Reason: convene.ReasonPermanent, Err: err}
	}
	if m.outbox != "" {
		return m.writeFile(ctx, p)
	}
	return m.pool.send(ctx, p.messageID, func() *gomail.Msg { return m.message(p) })
}

// prepared is an Email checked and normalised once, from which a fresh
// go-mail message is built for every attempt.
type prepared struct {
	e           convene.Email
	to          netmail.Address
	messageID   string
	attachments []attachment
	unsubscribe string
}

type attachment struct {
	name        string
	contentType string
	data        []byte
}

// prepare validates everything in e that ends up in a header. go-mail
// encodes header values, but it writes an attachment's content type and an
// address's domain as they are, so those must be clean before they get
// there.
func (m *Mailer) prepare(e convene.Email) (*prepared, error) {
	p := &prepared{e: e, messageID: e.MessageID}

	to, err := netmail.ParseAddress(e.To.Address)
	if err != nil {
		return nil, fmt.Errorf("recipient address %q: %v", e.To.Address, err)
	}
	if to.Name != "" {
		return nil, fmt.Errorf("recipient address %q: want a bare address, the name goes in Address.Name", e.To.Address)
	}
	p.to = netmail.Address{Name: cleanName(e.To.Name), Address: to.Address}

	if p.messageID == "" {
		p.messageID = m.newMessageID()
		m.log.Warn("email without Message-ID: generated one", "kind", e.Kind, "message_id", p.messageID)
	} else if err := checkMessageID(p.messageID); err != nil {
		return nil, err
	}

	for _, a := range e.Attachments {
		ct := ""
		if a.ContentType != "" {
			mt, params, err := mime.ParseMediaType(a.ContentType)
			if err == nil && !strings.Contains(mt, "/") {
				err = errors.New("want type/subtype")
			}
			if err != nil {
				return nil, fmt.Errorf("attachment %q: content type %q: %v", a.Filename, a.ContentType, err)
			}
			// Re-formatting quotes or encodes every parameter value, so
			// nothing in it can end the header line.
			if ct = mime.FormatMediaType(mt, params); ct == "" {
				return nil, fmt.Errorf("attachment %q: content type %q cannot be encoded", a.Filename, a.ContentType)
			}
		}
		name := a.Filename
		if name == "" {
			name = "attachment"
		}
		p.attachments = append(p.attachments, attachment{name: name, contentType: ct, data: a.Data})
	}

	if e.ListUnsubscribe != "" {
		u, err := checkUnsubscribe(e.ListUnsubscribe)
		if err != nil {
			return nil, err
		}
		p.unsubscribe = u
	}
	return p, nil
}

// cleanName replaces control characters (CR and LF among them) in a display
// name with spaces. go-mail would encode them safely, but a name that
// decodes to several lines is still a trap for whatever displays it.
func cleanName(name string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, name))
}

// checkMessageID accepts an RFC 5322 msg-id without its angle brackets:
// visible ASCII with an "@".
func checkMessageID(id string) error {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return fmt.Errorf("message ID %q: want visible ASCII without angle brackets", id)
		}
	}
	if !strings.Contains(id, "@") {
		return fmt.Errorf("message ID %q: want left@right", id)
	}
	return nil
}

// checkUnsubscribe returns the one-click unsubscribe URL as it goes in the
// header, or an error when it is not an absolute http(s) URL that fits
// between angle brackets.
func checkUnsubscribe(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("unsubscribe URL %q: want an absolute http(s) URL", raw)
	}
	s := u.String()
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == ',' {
			return "", fmt.Errorf("unsubscribe URL %q: character %q not allowed", raw, c)
		}
	}
	return s, nil
}

// newMessageID makes a random Message-ID under the sender's domain.
func (m *Mailer) newMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	domain := "localhost"
	if at := strings.LastIndexByte(m.sender.Address, '@'); at >= 0 {
		domain = m.sender.Address[at+1:]
	}
	return hex.EncodeToString(b) + "@" + domain
}

// message builds the go-mail message for p. Every header value from the
// Email goes through a setter that encodes it (Subject, SetGenHeader) or
// through a validated net/mail.Address; none through the preformatted
// setters.
func (m *Mailer) message(p *prepared) *gomail.Msg {
	e := p.e
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	)
	sender, to := m.sender, p.to // go-mail keeps the pointers
	msg.FromMailAddress(&sender)
	msg.ToMailAddress(&to)
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(p.messageID) // adds the angle brackets
	msg.SetDateWithValue(m.now())
	if e.Kind != "" {
		msg.SetGenHeader("X-Convene-Kind", e.Kind)
	}
	if e.MeetingID != "" {
		msg.SetGenHeader("X-Convene-Meeting", e.MeetingID)
	}
	if e.RegistrationID != "" {
		msg.SetGenHeader("X-Convene-Registration", e.RegistrationID)
	}
	if p.unsubscribe != "" {
		msg.SetGenHeader(gomail.HeaderListUnsubscribe, "<"+p.unsubscribe+">")
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}

	switch {
	case e.Text == "" && e.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, e.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, e.Text)
		if e.HTML != "" {
			msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
		}
	}
	for _, a := range p.attachments {
		var opts []gomail.FileOption
		if a.contentType != "" {
			opts = append(opts, gomail.WithFileContentType(gomail.ContentType(a.contentType)))
		}
		// Reading a bytes.Reader cannot fail.
		_ = msg.AttachReader(a.name, bytes.NewReader(a.data), opts...)
	}
	return msg
}
