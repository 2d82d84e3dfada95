package templates_test

import (
	"strings"
	"testing"
	"time"

	"convene"
	"convene/templates"
)

// FuzzParticipantEmail renders participant emails with arbitrary names,
// organisations, titles and reminder messages: rendering never fails on
// text that passed validation, participant text never becomes markup in
// the HTML part, and the subject stays one line.
func FuzzParticipantEmail(f *testing.F) {
	r, err := templates.New(templates.Options{From: convene.Address{Name: "Convene", Address: "no-reply@convene.test"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Ada", "Org", "Title", "Message")
	f.Add("<SCRIPT>x</SCRIPT>", "<scr<script>ipt>", "<script", "</p><script>alert(1)</script>")
	f.Add("<script>alert(1)</script>", "{{.Link}}", "A & B <b>", "line\n<i>two</i>")
	f.Add("Jane \"J\" O'Neil", "Doe, Jane; x", "Zürich — ünïcödé", "")
	f.Fuzz(func(t *testing.T, name, org, title, message string) {
		in := convene.RegistrationInput{Name: name, Email: "p@example.org", Organisation: org}
		reg, err := convene.NewRegistration("m1", in, time.Unix(1_800_000_000, 0))
		if err != nil {
			return // the intake refuses it: it never reaches a template
		}
		id, starts, tz := "m1", "2027-03-01T09:00:00Z", "Europe/Zurich"
		m, err := convene.NewMeeting(convene.MeetingInput{ID: &id, Title: &title, StartsAt: &starts, Timezone: &tz}, nil, time.Unix(1_800_000_000, 0))
		if err != nil {
			return
		}
		reg.Status = convene.StatusConfirmed
		for _, kind := range []string{convene.EmailConfirmation, convene.EmailReminder} {
			e, err := r.Participant(templates.Data{
				Meeting: m, Registration: reg, Now: time.Unix(1_800_000_000, 0), Link: "https://convene.test/r/tok",
				Message:         convene.Message{MeetingID: "m1", RegistrationID: reg.ID, Kind: kind, Variant: "1"},
				ReminderMessage: message,
			})
			if err != nil {
				t.Fatalf("render %s: %v", kind, err)
			}
			if strings.ContainsAny(e.Subject, "\r\n") {
				t.Fatalf("subject with a line break: %q", e.Subject)
			}
			// The templates hold no script, so a script tag in the HTML
			// can only be participant text that escaped escaping.
			if strings.Contains(strings.ToLower(e.HTML), "<script") {
				t.Fatalf("participant text became markup: %q", e.HTML)
			}
		}
	})
}
