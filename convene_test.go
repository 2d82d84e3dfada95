package convene_test

import (
	"strings"
	"testing"
	"time"

	"convene"
)

func TestSignerRoundTripsAndRejectsTampering(t *testing.T) {
	t.Parallel()
	s, err := convene.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := convene.NewSigner([]byte(strings.Repeat("o", 32)))
	tok := s.Sign("m1", "r-abc")
	if m, r, ok := s.Verify(tok); !ok || m != "m1" || r != "r-abc" {
		t.Fatalf("Verify(Sign) = %q %q %v", m, r, ok)
	}
	flip := []byte(tok)
	flip[len(flip)-1] ^= 1
	for name, bad := range map[string]string{
		"tampered mac":       string(flip),
		"truncated":          tok[:len(tok)-5],
		"other registration": strings.Replace(tok, "r-abc", "r-abd", 1),
		"other meeting":      strings.Replace(tok, "m1.", "m2.", 1),
		"other key":          other.Sign("m1", "r-abc"),
		"empty":              "",
		"extra part":         tok + ".x",
	} {
		if _, _, ok := s.Verify(bad); ok {
			t.Errorf("%s token %q verified", name, bad)
		}
	}
	if _, err := convene.NewSigner([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestParseEmail(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a@example.org", "first.last+tag@sub.example.org", "  x@example.org "} {
		if _, err := convene.ParseEmail(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "a@", "@example.org", "a@b@c", "A <a@example.org>", "a@example.org\r\nBcc: b@x", "a@example.org,b@example.org", "a b@example.org", "a@example.", "a@.example.org"} {
		if _, err := convene.ParseEmail(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOffsetsFormatShortest(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{168 * time.Hour: "168h", 90 * time.Minute: "1h30m", 15 * time.Minute: "15m", 90 * time.Second: "1m30s", 2 * time.Second: "2s"} {
		if got := convene.FormatOffset(d); got != want {
			t.Errorf("FormatOffset(%v) = %q, want %q", d, got, want)
		}
	}
	if _, err := convene.ParseOffsets("24h,,15m"); err != nil {
		t.Fatal(err)
	}
}

func TestMessageIDIsStable(t *testing.T) {
	t.Parallel()
	r := convene.Registration{ID: "r-1", MeetingID: "m1", Status: convene.StatusWaitlisted}
	msg := convene.NoticeMessage(r)
	if msg.Kind != convene.EmailWaitlisted || msg.MessageID("example.org") != convene.NoticeMessage(r).MessageID("example.org") {
		t.Fatalf("notice %+v", msg)
	}
	if err := (convene.Message{MeetingID: "m1", RegistrationID: "r|x", Kind: "confirmation", Variant: "1"}).Validate(); err == nil {
		t.Fatal("a message with | in an id validated")
	}
}
