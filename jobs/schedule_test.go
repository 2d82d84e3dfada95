package jobs_test

import (
	"testing"
	"time"

	"convene/jobs"
)

func TestDigestScheduleFollowsTheZoneAcrossDST(t *testing.T) {
	t.Parallel()
	zurich, _ := time.LoadLocation("Europe/Zurich")
	sched, err := jobs.ParseSchedule("0 7 * * *", zurich)
	if err != nil {
		t.Fatal(err)
	}
	// Summer time starts in Zurich on 29 March 2026 at 02:00.
	got := []time.Time{}
	at := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	for range 4 {
		at = sched.Next(at)
		got = append(got, at.UTC())
	}
	want := []string{"2026-03-28T06:00:00Z", "2026-03-29T05:00:00Z", "2026-03-30T05:00:00Z", "2026-03-31T05:00:00Z"}
	for i, w := range want {
		if got[i].Format(time.RFC3339) != w {
			t.Fatalf("tick %d at %s, want %s (07:00 in Zurich)", i, got[i].Format(time.RFC3339), w)
		}
	}
}

func TestLatestTickCatchesUpOnce(t *testing.T) {
	t.Parallel()
	sched, err := jobs.ParseSchedule("@every 10s", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick, missed := jobs.LatestTick(sched, last, last.Add(95*time.Second))
	if !missed || !tick.Equal(last.Add(90*time.Second)) {
		t.Fatalf("after a 95 s gap: %v %v, want the tick at +90s", tick, missed)
	}
	if _, missed := jobs.LatestTick(sched, last, last.Add(5*time.Second)); missed {
		t.Fatal("a tick reported missed before it was due")
	}
	daily, _ := jobs.ParseSchedule("@daily", time.UTC)
	tick, missed = jobs.LatestTick(daily, last, last.Add(72*time.Hour+time.Hour))
	if !missed || !tick.Equal(last.Add(72*time.Hour)) {
		t.Fatalf("daily after three days: %v %v", tick, missed)
	}
}

func TestBadScheduleIsRefused(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"", "every day", "61 * * * *", "@sometimes", "* * * *"} {
		if _, err := jobs.ParseSchedule(spec, time.UTC); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

func TestEveryTicksOnTheSameGridInEveryReplica(t *testing.T) {
	t.Parallel()
	sched, err := jobs.ParseSchedule("@every 10s", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := sched.Next(base.Add(1300 * time.Millisecond)) // one replica starts here
	b := sched.Next(base.Add(7 * time.Second))         // another, later
	if !a.Equal(base.Add(10*time.Second)) || !a.Equal(b) {
		t.Fatalf("replicas tick at %v and %v, want both at +10s", a, b)
	}
}
