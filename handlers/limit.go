package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"convene"
	"convene/ratelimit"
)

// Limiter counts a request against several limits at once, in one round
// trip: nil when all allow it, a *ratelimit.RefusedError when one does not;
// *ratelimit.Limiter.
type Limiter interface {
	Allow(ctx context.Context, checks ...ratelimit.Check) error
}

// limitedError is a 429: too many requests, and when to try again.
type limitedError struct {
	retryAfter time.Duration
	err        *convene.Error
}

func (e *limitedError) Error() string { return e.err.Error() }
func (e *limitedError) Unwrap() error { return e.err }

// intakeLimits are the limits a registration or resend counts against: the
// client address (INTAKE_RATE_PER_IP per minute) and the email address
// (INTAKE_RATE_PER_EMAIL per hour, across all meetings, so one address
// cannot be flooded from many clients). A rate of 0 is no limit, and
// without a Limiter there are none.
func intakeLimits(r *http.Request, cfg Config, email string) []ratelimit.Check {
	if cfg.Limiter == nil {
		return nil
	}
	return []ratelimit.Check{
		{Key: ratelimit.IPKey(clientIP(r, cfg.TrustedProxies)), N: cfg.RatePerIP, Period: time.Minute},
		{Key: ratelimit.EmailKey(email), N: cfg.RatePerEmail, Period: time.Hour},
	}
}

// limitsWhy says, by the index of intakeLimits, what a 429 was about.
var limitsWhy = [...]string{"from this client", "for this email address"}

// limited turns a limit's refusal into the 429 that says which limit and
// when to try again; any other error is returned as it is.
func limited(err error) error {
	var refusal *ratelimit.RefusedError
	if !errors.As(err, &refusal) || refusal.Check < 0 || refusal.Check >= len(limitsWhy) {
		return err
	}
	return &limitedError{retryAfter: refusal.Wait, err: convene.Errorf(convene.ETOOMANY, "too many requests %s; try again later", limitsWhy[refusal.Check])}
}

// checkLimits counts a resend against intakeLimits, in one round trip. (A
// registration's limits are counted by the store, in the round trips that
// store registrations.)
func checkLimits(ctx context.Context, r *http.Request, cfg Config, email string) error {
	if cfg.Limiter == nil {
		return nil
	}
	return limited(cfg.Limiter.Allow(ctx, intakeLimits(r, cfg, email)...))
}

// setRetryAfter sets the Retry-After header of a 429 in whole seconds.
func setRetryAfter(w http.ResponseWriter, err error) {
	var le *limitedError
	if errors.As(err, &le) {
		secs := int(le.retryAfter.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
}

// clientIP is the address of the client: the connection's peer, or, when
// the peer is a trusted proxy, the right-most address of X-Forwarded-For
// that is not itself a trusted proxy.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
