package templates_test

import (
	"io"
	"testing"

	"convene"
	"convene/templates"
)

// BenchmarkParticipantConfirmation renders one confirmation (subject,
// text, HTML and invite.ics): the worker's rendering cost per email.
func BenchmarkParticipantConfirmation(b *testing.B) {
	r, err := templates.New(templates.Options{From: sender})
	if err != nil {
		b.Fatal(err)
	}
	d := data(convene.EmailConfirmation, "en")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Participant(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParticipantReminder renders one reminder with an extra
// reminder's subject and message: the fan-out's rendering cost per email.
func BenchmarkParticipantReminder(b *testing.B) {
	r, err := templates.New(templates.Options{From: sender})
	if err != nil {
		b.Fatal(err)
	}
	d := data(convene.EmailReminder, "en")
	d.ReminderSubject = "Tomorrow: bring your badge"
	d.ReminderMessage = "Doors open at 8:30.\nPlease bring the badge you received."
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Participant(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeetingPage renders the meeting's public page, GET /m/{id}:
// ns and allocations per page.
func BenchmarkMeetingPage(b *testing.B) {
	p, err := templates.NewPages()
	if err != nil {
		b.Fatal(err)
	}
	d := meetingPage("fr")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Meeting(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}
