package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"convene/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

const key = "0123456789abcdef0123456789abcdef"

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.ModeWeb, env("SIGNING_KEY", key))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != "redis://127.0.0.1:6379/0" || c.Port != 8080 || c.PublicURL != "http://localhost:8080" ||
		c.WorkerConcurrency != 20 || c.DigestSchedule != "0 7 * * *" || c.DigestTimezone.String() != "UTC" ||
		len(c.ReminderOffsets) != 1 || time.Duration(c.ReminderOffsets[0]) != 24*time.Hour ||
		c.IntakeRatePerIP != 60 || c.IntakeRatePerEmail != 10 || len(c.OrganiserTokens) != 0 || c.OpsToken != "" ||
		c.SweepInterval != 30*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestDevDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.ModeDev, env("PORT", "9000"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MailURL != config.DevMailURL || c.MailFrom == "" || len(c.SigningKey) < 32 || len(c.Warnings) == 0 || c.PublicURL != "http://localhost:9000" {
		t.Fatalf("dev defaults: %+v", c)
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.ModeWorker, env(
		"MAIL_URL", "smtp://u:p@mail:587", "MAIL_FROM", "Convene <no-reply@example.org>", "SIGNING_KEY", key,
		"ORGANISER_TOKENS", " a, b ,,", "REMINDER_OFFSETS", "168h, 15m", "TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.7/32",
		"DIGEST_TIMEZONE", "Europe/Zurich", "INTAKE_RATE_PER_IP", "0", "PUBLIC_URL", "https://convene.example.org/",
	))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.OrganiserTokens, "|") != "a|b" || len(c.ReminderOffsets) != 2 || len(c.TrustedProxies) != 2 ||
		c.DigestTimezone.String() != "Europe/Zurich" || c.IntakeRatePerIP != 0 || c.PublicURL != "https://convene.example.org" {
		t.Fatalf("values: %+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	worker := []string{"MAIL_URL", "smtp://mail:25", "MAIL_FROM", "a@example.org", "SIGNING_KEY", key}
	for _, tc := range []struct {
		mode string
		env  []string
		want string
	}{
		{config.ModeWeb, []string{"SIGNING_KEY", key, "REDIS_URL", "http://x"}, "REDIS_URL"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "PORT", "80a"}, "PORT"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "PORT", "70000"}, "PORT"},
		{config.ModeWeb, []string{"SIGNING_KEY", "short"}, "SIGNING_KEY"},
		{config.ModeWeb, nil, "SIGNING_KEY"},
		{config.ModeWorker, []string{"SIGNING_KEY", key, "MAIL_FROM", "a@example.org"}, "MAIL_URL"},
		{config.ModeWorker, []string{"SIGNING_KEY", key, "MAIL_URL", "http://mail", "MAIL_FROM", "a@example.org"}, "MAIL_URL"},
		{config.ModeWorker, []string{"SIGNING_KEY", key, "MAIL_URL", "smtp://mail:25"}, "MAIL_FROM"},
		{config.ModeWorker, append(worker, "WORKER_CONCURRENCY", "0"), "WORKER_CONCURRENCY"},
		{config.ModeWorker, append(worker, "WORKER_CONCURRENCY", "many"), "WORKER_CONCURRENCY"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "PUBLIC_URL", "example.org"}, "PUBLIC_URL"},
		{config.ModeScheduler, []string{"DIGEST_TIMEZONE", "Mars/Base"}, "DIGEST_TIMEZONE"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "REMINDER_OFFSETS", "1 day"}, "REMINDER_OFFSETS"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "REMINDER_OFFSETS", "-1h"}, "REMINDER_OFFSETS"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "INTAKE_RATE_PER_IP", "-1"}, "INTAKE_RATE_PER_IP"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "INTAKE_RATE_PER_EMAIL", "x"}, "INTAKE_RATE_PER_EMAIL"},
		{config.ModeWeb, []string{"SIGNING_KEY", key, "TRUSTED_PROXIES", "10.0.0.1/99"}, "TRUSTED_PROXIES"},
		{config.ModeScheduler, []string{"SWEEP_INTERVAL", "1ms"}, "SWEEP_INTERVAL"},
	} {
		_, err := config.Load(tc.mode, env(tc.env...))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tc.want {
			t.Errorf("%s %v: got %v, want an error naming %s", tc.mode, tc.env, err, tc.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "config: "+tc.want+": ") {
			t.Errorf("error is not one line naming the variable: %q", msg)
		}
	}
}
