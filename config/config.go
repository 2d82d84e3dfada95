// Package config reads and validates Convene's configuration (SPEC §2) from
// environment variables, once, at start.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"convene"
)

// Modes are the processes a Config is loaded for. Defaults and required
// variables differ between them (SPEC §2).
const (
	ModeWeb       = "web"
	ModeWorker    = "worker"
	ModeScheduler = "scheduler"
	ModeDev       = "dev"
	ModeOps       = "ops"
)

// Dev-mode defaults.
const (
	DevMailURL  = "file://./var/outbox"
	DevMailFrom = "Convene Dev <convene@localhost>"
)

// Config is the validated configuration of one process.
type Config struct {
	Mode     string
	RedisURL string
	Redis    Redis // REDIS_URL, read
	// RedisWaitReplicas is how many replicas must have a write before it
	// is acknowledged (WAIT), within RedisWaitTimeout; 0: no waiting.
	RedisWaitReplicas  int
	RedisWaitTimeout   time.Duration
	Port               int
	MailURL            string
	MailFrom           string
	PublicURL          string
	SigningKey         []byte
	OrganiserTokens    []string
	OpsToken           string
	WorkerConcurrency  int
	DigestSchedule     string
	DigestTimezone     *time.Location
	ReminderOffsets    []convene.Offset
	IntakeRatePerIP    int
	IntakeRatePerEmail int
	TrustedProxies     []netip.Prefix
	// MetricsPort, when not -1 (unset), is where a worker or scheduler
	// serves GET /metrics and GET /healthz (the web process serves them on
	// Port); 0 picks a free port and logs it.
	MetricsPort int
	// SweepInterval is how often the scheduler enqueues the outbox sweep and
	// how old an unqueued email intent must be before the sweep enqueues it.
	SweepInterval time.Duration

	// Warnings are things an operator should know about a config that
	// still works (e.g. a generated signing key). Log each once.
	Warnings []string
}

// Error is a configuration error: it names the variable and what is wrong,
// in one line.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return "config: " + e.Var + ": " + e.Msg }

// Load reads the configuration for mode through getenv (os.Getenv in
// production, a map in tests) and validates every value.
func Load(mode string, getenv func(string) string) (Config, error) {
	switch mode {
	case ModeWeb, ModeWorker, ModeScheduler, ModeDev, ModeOps:
	default:
		return Config{}, fmt.Errorf("config: unknown mode %q", mode)
	}
	c := Config{Mode: mode}
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	bad := func(name, format string, args ...any) error {
		return &Error{Var: name, Msg: fmt.Sprintf(format, args...)}
	}

	c.RedisURL = get("REDIS_URL")
	if c.RedisURL == "" {
		c.RedisURL = "redis://127.0.0.1:6379/0"
	}
	redisTarget, err := ParseRedisURL(c.RedisURL)
	if err != nil {
		return Config{}, bad("REDIS_URL", "%v", err)
	}
	c.Redis = redisTarget

	c.Port = 8080
	if v := get("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return Config{}, bad("PORT", "%q is not a port number (0-65535)", v)
		}
		c.Port = p
	}

	c.MailURL, c.MailFrom = get("MAIL_URL"), get("MAIL_FROM")
	if mode == ModeDev {
		if c.MailURL == "" {
			c.MailURL = DevMailURL
		}
		if c.MailFrom == "" {
			c.MailFrom = DevMailFrom
		}
	}
	if mode == ModeWorker || mode == ModeDev {
		if c.MailURL == "" {
			return Config{}, bad("MAIL_URL", "is required (smtp://host:port, smtps://host:port or file:///dir)")
		}
		if u, err := url.Parse(c.MailURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps" && u.Scheme != "file") {
			return Config{}, bad("MAIL_URL", "must be an smtp://, smtps:// or file:// URL")
		}
		if c.MailFrom == "" {
			return Config{}, bad("MAIL_FROM", "is required, e.g. Convene <no-reply@example.org>")
		}
	}

	c.PublicURL = strings.TrimRight(get("PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:" + strconv.Itoa(c.Port)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, bad("PUBLIC_URL", "%q must be an absolute http or https URL", c.PublicURL)
	}

	if k := getenv("SIGNING_KEY"); k != "" {
		if len(k) < convene.MinSigningKeyLen {
			return Config{}, bad("SIGNING_KEY", "must be at least %d bytes (got %d)", convene.MinSigningKeyLen, len(k))
		}
		c.SigningKey = []byte(k)
	} else {
		switch mode {
		case ModeDev:
			var b [32]byte
			if _, err := rand.Read(b[:]); err != nil {
				return Config{}, bad("SIGNING_KEY", "cannot generate a key: %v", err)
			}
			c.SigningKey = []byte(hex.EncodeToString(b[:]))
			c.Warnings = append(c.Warnings, "SIGNING_KEY is not set: generated one for this run; participant links stop working after a restart")
		case ModeWeb, ModeWorker:
			return Config{}, bad("SIGNING_KEY", "is required (at least %d bytes of secret)", convene.MinSigningKeyLen)
		}
	}

	for _, t := range strings.Split(getenv("ORGANISER_TOKENS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.OrganiserTokens = append(c.OrganiserTokens, t)
		}
	}
	c.OpsToken = get("OPS_TOKEN")

	c.WorkerConcurrency = 20
	if v := get("WORKER_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return Config{}, bad("WORKER_CONCURRENCY", "%q must be a whole number from 1 to 1000", v)
		}
		c.WorkerConcurrency = n
	}

	c.DigestSchedule = get("DIGEST_SCHEDULE")
	if c.DigestSchedule == "" {
		c.DigestSchedule = "0 7 * * *"
	}
	tz := get("DIGEST_TIMEZONE")
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return Config{}, bad("DIGEST_TIMEZONE", "%q is not an IANA time zone such as Europe/Zurich", tz)
	}
	c.DigestTimezone = loc

	offsets := get("REMINDER_OFFSETS")
	if offsets == "" {
		offsets = "24h"
	}
	if c.ReminderOffsets, err = convene.ParseOffsets(offsets); err != nil {
		return Config{}, bad("REMINDER_OFFSETS", "%s", convene.ErrorMessage(err))
	}

	if c.IntakeRatePerIP, err = nonNegative(get("INTAKE_RATE_PER_IP"), 60); err != nil {
		return Config{}, bad("INTAKE_RATE_PER_IP", "%v", err)
	}
	if c.IntakeRatePerEmail, err = nonNegative(get("INTAKE_RATE_PER_EMAIL"), 10); err != nil {
		return Config{}, bad("INTAKE_RATE_PER_EMAIL", "%v", err)
	}

	for _, s := range strings.Split(get("TRUSTED_PROXIES"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Config{}, bad("TRUSTED_PROXIES", "%q is not a CIDR such as 10.0.0.0/8", s)
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}

	c.MetricsPort = -1
	if v := get("METRICS_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return Config{}, bad("METRICS_PORT", "%q is not a port number (0-65535)", v)
		}
		c.MetricsPort = p
	}

	c.SweepInterval = 30 * time.Second
	if v := get("SWEEP_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return Config{}, bad("SWEEP_INTERVAL", "%q must be a duration from 100ms to 1h", v)
		}
		c.SweepInterval = d
	}

	if c.RedisWaitReplicas, err = nonNegative(get("REDIS_WAIT_REPLICAS"), 0); err != nil || c.RedisWaitReplicas > 16 {
		return Config{}, bad("REDIS_WAIT_REPLICAS", "%q must be a number of replicas from 0 to 16", get("REDIS_WAIT_REPLICAS"))
	}
	c.RedisWaitTimeout = 200 * time.Millisecond
	if v := get("REDIS_WAIT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > 10*time.Second {
			return Config{}, bad("REDIS_WAIT_TIMEOUT", "%q must be a duration from 1ms to 10s", v)
		}
		c.RedisWaitTimeout = d
	}
	return c, nil
}

func nonNegative(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q must be a whole number, 0 or more (0 turns the limit off)", v)
	}
	return n, nil
}
