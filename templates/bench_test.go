package templates_test

import (
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
