package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// DefaultPrefix is the key prefix of a Store made without WithPrefix.
const DefaultPrefix = "cv"

// Store is Convene's Redis persistence.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	// waitReplicas and waitTimeout: see WithWait.
	waitReplicas int
	waitTimeout  time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the key prefix (default DefaultPrefix).
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithClock sets the clock the store uses for timestamps (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: DefaultPrefix, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return wrap(err, "ping redis")
	}
	return nil
}

// Keys.

func (s *Store) meetingsKey() string          { return s.prefix + ":meetings" }
func (s *Store) tag(mid string) string        { return s.prefix + ":{m:" + mid + "}" }
func (s *Store) meetingKey(mid string) string { return s.tag(mid) + ":m" }
func (s *Store) regKey(mid, rid string) string {
	return s.tag(mid) + ":r:" + rid
}
func (s *Store) emailsKey(mid string) string  { return s.tag(mid) + ":e" }
func (s *Store) orderKey(mid string) string   { return s.tag(mid) + ":o" }
func (s *Store) waitKey(mid string) string    { return s.tag(mid) + ":w" }
func (s *Store) outboxKey(mid string) string  { return s.tag(mid) + ":q" }
func (s *Store) noticesKey(mid string) string { return s.tag(mid) + ":n" }

// inOutbox reports whether an intent is an outbox entry. A NoticesIntent
// is not: the meeting records that its notices job runs instead.
func inOutbox(in convene.Intent) bool { return in.Type != convene.IntentNotices }

// outboxOf is the outbox that holds an intent: the notices outbox for a
// registration's first notice, the outbox otherwise.
func (s *Store) outboxOf(in convene.Intent) string {
	if in.Notice() {
		return s.noticesKey(in.MeetingID)
	}
	return s.outboxKey(in.MeetingID)
}
func (s *Store) cancelLogKey(mid string) string { return s.tag(mid) + ":xl" }
func (s *Store) bounceLogKey(mid string) string { return s.tag(mid) + ":bl" }

// wrap turns a Redis error into a convene error: EUNAVAILABLE when Redis
// cannot be reached or cannot take writes (so the caller answers 503 and
// the client tries again), EINTERNAL otherwise.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if unavailable(err) {
		return fmt.Errorf("%s: %w", msg, &convene.Error{Code: convene.EUNAVAILABLE, Message: "storage is unavailable, try again shortly"})
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func unavailable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"OOM ", "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "connection refused", "no such file or directory", "broken pipe", "connection reset"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// IsUnavailable reports whether err means Redis could not be reached or
// could not take the write.
func IsUnavailable(err error) bool {
	return convene.ErrorCode(err) == convene.EUNAVAILABLE
}

func isNil(err error) bool { return errors.Is(err, redis.Nil) }
