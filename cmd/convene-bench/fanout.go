package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"convene"
	"convene/store"
)

// fanoutPhase measures one reminder to a meeting of fanout confirmed
// participants: from its due time to the last reminder at the sink.
func (b *bench) fanoutPhase(ctx context.Context, r *results) error {
	f, err := b.fanout(ctx, "fanout", b.sz.fanout, false)
	if err != nil {
		return err
	}
	r.FanoutS = f.took()
	r.ranWith("fanout", f.limits)
	b.logf("%s", f.line())
	r.note("fan-out: %s", f.line())
	return nil
}

// fanout100kPhase measures one reminder to a meeting of fanout100k (in
// the full run 100,000) confirmed participants, as fanoutPhase does, with
// a worker started for the reminder alone: the peak resident memory of its
// process (VmHWM) is the fan-out's. To keep the run short, the
// participants' confirmations are recorded as sent rather than sent (see
// fanout).
func (b *bench) fanout100kPhase(ctx context.Context, r *results) error {
	f, err := b.fanout(ctx, "fanout100k", b.sz.fanout100k, true)
	if err != nil {
		return err
	}
	r.Fanout100kS = f.took()
	r.Fanout100kWorkerRSSMB = float64(f.hwmKB) / 1024
	r.ranWith("fanout100k", f.limits)
	b.logf("%s", f.line())
	r.note("fan-out 100k: %s", f.line())
	return nil
}

// fanoutResult is what one fan-out saw.
type fanoutResult struct {
	n           int
	seedTook    time.Duration // registered and confirmed in
	due         time.Time
	first, last time.Time    // the first and the last reminder at the sink
	early       int          // reminders that arrived before due
	limits      limitSetting // the intake limits the registrations met

	// With a fresh worker: its peak resident memory (VmHWM) and the
	// largest VmRSS sampled every 100 ms, with when (from due), and its
	// CPU time per reminder.
	fresh      bool
	hwmKB      int64
	rssKB      int64
	rssAt      time.Duration
	endRSSKB   int64
	freshCPU   string
	workerLive time.Duration // from the fresh worker's start to due
}

// took is the figure: from the due time to the last reminder at the sink.
func (f *fanoutResult) took() float64 { return f.last.Sub(f.due).Seconds() }

// line describes the fan-out in one line.
func (f *fanoutResult) line() string {
	seeded := "registered and confirmed"
	if f.fresh {
		seeded = "registered, confirmations recorded as sent,"
	}
	s := fmt.Sprintf("one reminder to %d participants (%s in %.1f s): first at due %+.0f ms, last at due + %.3f s (%.0f/s); %d early",
		f.n, seeded, f.seedTook.Seconds(), ms(f.first.Sub(f.due)), f.took(), float64(f.n)/f.last.Sub(f.first).Seconds(), f.early)
	if f.fresh {
		s += fmt.Sprintf("; worker started %.1f s before due: peak RSS (VmHWM) %.1f MiB, sampled VmRSS max %.1f MiB at due %+.1f s, %.1f MiB after the last; its CPU time: %s",
			f.workerLive.Seconds(), float64(f.hwmKB)/1024, float64(f.rssKB)/1024, f.rssAt.Seconds(), float64(f.endRSSKB)/1024, f.freshCPU)
	}
	return s
}

// fanout runs one fan-out phase: web (with the intake limits unless
// -limits off), worker and scheduler; a meeting with n participants, all
// registered through the API and all confirmations arrived; then one extra
// reminder due 3 s later, until the last of the n reminders arrived at the
// sink.
//
// With fresh (the 100,000-participant phase), no worker runs while the
// participants register, still through the API; their confirmations are
// then recorded in the delivery ledger as sent (seedConfirmations) instead
// of being sent, which would take most of a minute; and the worker is
// started for the reminder alone, so that its VmHWM is the peak of the
// fan-out.
func (b *bench) fanout(ctx context.Context, name string, n int, fresh bool) (*fanoutResult, error) {
	modes := []string{"worker", "scheduler"}
	if fresh {
		modes = []string{"scheduler"}
	}
	e, web, err := b.system(ctx, name, b.limits, modes...)
	if err != nil {
		return nil, err
	}
	defer e.close()
	if err := e.createMeeting(ctx, web, "big"); err != nil {
		return nil, err
	}
	f := &fanoutResult{n: n, fresh: fresh}
	setup := time.Now()
	if err := e.register(ctx, web, "big", "p", n); err != nil {
		return nil, err
	}
	f.limits = e.limits()
	b.logf("%d participants registered in %.1f s; limits %s", n, time.Since(setup).Seconds(), f.limits)
	if fresh {
		if err := e.seedConfirmations(ctx, "big", n); err != nil {
			return nil, err
		}
	} else if _, err := e.sink.wait(ctx, "confirmation", n, waitTimeout(n)); err != nil {
		return nil, err
	}
	f.seedTook = time.Since(setup)
	if fresh {
		b.logf("%d participants registered, confirmations recorded as sent, in %.1f s", n, f.seedTook.Seconds())
	} else {
		b.logf("%d participants registered and confirmed in %.1f s", n, f.seedTook.Seconds())
	}

	worker := e.proc("worker")
	var rss *rssWatch
	restarted := time.Now()
	if fresh {
		if worker, err = e.start(ctx, "worker"); err != nil {
			return nil, err
		}
		rss = watchRSS(worker, 100*time.Millisecond)
		defer rss.end()
	}
	f.due = time.Now().Add(3 * time.Second)
	if err := e.addReminder(ctx, web, "big", f.due); err != nil {
		return nil, err
	}
	// From now until about 5 s after the due time for 10,000, 30 s for
	// 100,000.
	wait := e.profile(ctx, worker, max(8*time.Second, 3*time.Second+time.Duration(n)*300*time.Microsecond))
	defer wait()
	msgs, err := e.sink.wait(ctx, "reminder", n, waitTimeout(n)+3*time.Second)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if f.first.IsZero() || m.at.Before(f.first) {
			f.first = m.at
		}
		if m.at.After(f.last) {
			f.last = m.at
		}
		if m.at.Before(f.due) {
			f.early++
		}
	}
	if fresh {
		// The worker had nothing to send but the reminders: a notice left
		// unrecorded by seedConfirmations would have been sent now.
		if c := e.sink.countKind("confirmation"); c > 0 {
			return nil, fmt.Errorf("%d confirmations were sent during the fan-out: the seeding left notices pending", c)
		}
		f.hwmKB = worker.statusKB("VmHWM")
		f.endRSSKB = worker.statusKB("VmRSS")
		var at time.Time
		f.rssKB, at = rss.end()
		f.rssAt = at.Sub(f.due)
		f.freshCPU = cpuPer(worker.cpuTime(), n)
		f.workerLive = f.due.Sub(restarted)
		if f.hwmKB < 0 {
			return nil, fmt.Errorf("cannot read VmHWM of the worker from /proc/%d/status", worker.cmd.Process.Pid)
		}
	}
	e.heapProfile(ctx, worker)
	return f, nil
}

// proc returns the phase's (first) process of a mode, or nil.
func (e *env) proc(mode string) *proc {
	for _, p := range e.procs {
		if p.mode == mode {
			return p
		}
	}
	return nil
}

// rssWatch samples a process's VmRSS at an interval and keeps the largest.
type rssWatch struct {
	stop  chan struct{}
	done  chan struct{}
	maxKB int64
	at    time.Time
}

// watchRSS starts sampling p's VmRSS every interval until end.
func watchRSS(p *proc, every time.Duration) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb := p.statusKB("VmRSS"); kb > w.maxKB {
				w.maxKB, w.at = kb, time.Now()
			}
			select {
			case <-w.stop:
				return
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the sampling (more calls do nothing) and returns the largest
// VmRSS seen, in kB, and when.
func (w *rssWatch) end() (int64, time.Time) {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	return w.maxKB, w.at
}

// seedConfirmations records, through the store package, the confirmation
// of each of a meeting's n registrations as sent, as the worker records a
// confirmation the SMTP server accepted (the ledger field, email_status
// "sent", the notice out of the notices outbox), without sending it: the
// registrations are then as the worker would leave them after sending
// their confirmations, and a worker started now has nothing left to send
// but what the phase measures. It checks that all n are confirmed.
func (e *env) seedConfirmations(ctx context.Context, meeting string, n int) error {
	rdb := e.redis.client()
	defer rdb.Close()
	st := store.New(rdb)
	regs, err := st.Registrations(ctx, meeting)
	if err != nil {
		return err
	}
	if len(regs) != n {
		return fmt.Errorf("meeting %s holds %d registrations, want %d", meeting, len(regs), n)
	}
	fb := st.NewFinishBatcher()
	defer fb.Close()
	work := make(chan convene.Registration)
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for r := range work {
				if r.Status != convene.StatusConfirmed {
					errs <- fmt.Errorf("registration %s is %s, want %s", r.ID, r.Status, convene.StatusConfirmed)
					return
				}
				if err := fb.FinishMessage(ctx, convene.NoticeMessage(r), store.OutcomeSent, convene.EmailSent); err != nil {
					errs <- err
					return
				}
			}
		})
	}
feed:
	for _, r := range regs {
		select {
		case work <- r:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("recording the confirmations: %w", err)
	}
	return nil
}
