package templates_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone rules the golden files were written with, whatever the host has

	"convene"
	"convene/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var sender = convene.Address{Name: "Convene", Address: "no-reply@convene.example.org"}

const senderDomain = "convene.example.org"

// setup returns a Renderer over the embedded templates.
func setup(t *testing.T) *templates.Renderer {
	t.Helper()
	r, err := templates.New(templates.Options{From: sender})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

// zone is the meeting's time zone. Geneva's own name, Europe/Geneva, is a
// link that neither Go 1.26's embedded tzdata nor Debian's tzdata 2025b
// carries, so LoadLocation fails for it and Meeting.Zone would show UTC; Zurich
// has the same rules.
const zone = "Europe/Zurich"

// meeting is a day-long meeting in Geneva (09:00–17:00 CET), version 3.
func meeting() convene.Meeting {
	return convene.Meeting{
		ID:        "m-stats-2026",
		Title:     "Expert Group Meeting on Statistics, 2026",
		Kind:      convene.KindExpertGroupMeeting,
		StartsAt:  utc("2026-12-01T08:00:00Z"),
		EndsAt:    ptr(utc("2026-12-01T16:00:00Z")),
		Timezone:  zone,
		Location:  "Palais des Nations, Room XVII",
		OnlineURL: "https://meet.example.org/j/123456?pwd=a1b2",
		Capacity:  40,
		Status:    convene.MeetingScheduled,
		Version:   3,
	}
}

// data returns fixed data for one kind of email in one language, with
// everything that kind uses filled in.
func data(kind, lang string) templates.Data {
	m := meeting()
	reg := convene.Registration{
		ID:           "r-janedoe00000000",
		MeetingID:    m.ID,
		Name:         "Jane Doe",
		Email:        "jane.doe@example.com",
		Organisation: "Statistics Office",
		Language:     lang,
		Status:       convene.StatusConfirmed,
	}
	d := templates.Data{
		Meeting:      m,
		Registration: reg,
		Message:      convene.Message{MeetingID: m.ID, RegistrationID: reg.ID, Kind: kind, Variant: "3"},
		Link:         "https://convene.example.org/r/tok3n.s1gnature",
		Now:          utc("2026-11-20T10:30:00Z"),
	}
	switch kind {
	case convene.EmailWaitlisted:
		d.Registration.Status = convene.StatusWaitlisted
		d.Registration.Position = 4
	case convene.EmailReminder:
		d.Now = utc("2026-11-30T08:00:02Z") // the 24h reminder, two seconds late
		if lang == "fr" {
			d.ReminderSubject = "Rappel : pensez à votre badge"
			d.ReminderMessage = "Merci d'apporter votre badge.\r\nLe café est servi dès 08:30 dans le hall."
		} else {
			d.ReminderMessage = "Please bring your badge.\r\nCoffee is served from 08:30 in the lobby."
		}
	case convene.EmailUpdated:
		prev := meeting()
		prev.Version = 2
		prev.StartsAt = utc("2026-11-30T08:00:00Z")
		prev.EndsAt = ptr(utc("2026-11-30T11:00:00Z"))
		prev.Location = "Palais des Nations, Room XII"
		prev.OnlineURL = ""
		d.Previous = &prev
	case convene.EmailCancelled:
		d.Meeting.Status = convene.MeetingCancelled
		d.MeetingCancelled = true
	}
	return d
}

// golden formats an email as its golden file holds it.
func golden(e convene.Email) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Kind: %s\nMeeting: %s\nRegistration: %s\nMessage-ID: %s\nTo: %s <%s>\nSubject: %s\n",
		e.Kind, e.MeetingID, e.RegistrationID, e.MessageID, e.To.Name, e.To.Address, e.Subject)
	fmt.Fprintf(&b, "\n-- text --\n%s", e.Text)
	fmt.Fprintf(&b, "\n-- html --\n%s", e.HTML)
	for _, a := range e.Attachments {
		fmt.Fprintf(&b, "\n-- attachment %s (%s) --\n%s", a.Filename, a.ContentType, a.Data)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	t.Parallel()
	r := setup(t)
	type test struct {
		name string
		data templates.Data
	}
	var tests []test
	for _, lang := range convene.Languages {
		for _, kind := range templates.ParticipantKinds {
			tests = append(tests, test{kind + "." + lang, data(kind, lang)})
		}
		self := data(convene.EmailCancelled, lang)
		self.Meeting.Status = convene.MeetingScheduled
		self.MeetingCancelled = false
		tests = append(tests, test{"cancelled-registration." + lang, self})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := r.Participant(tt.data)
			if err != nil {
				t.Fatalf("Participant: %v", err)
			}
			got := golden(e)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered email (run go test ./templates -update after checking the change):\n%s",
					path, firstDiff(want, got))
			}
		})
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got []byte) string {
	wl := strings.SplitAfter(string(want), "\n")
	gl := strings.SplitAfter(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\ngot  %q", i+1, w, g)
		}
	}
	return "(no line differs)"
}
