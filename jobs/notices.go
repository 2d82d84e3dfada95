package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"convene"
	"convene/store"
	"convene/templates"
)

// handleNotices sends a meeting's pending registration notices
// (confirmations and waiting-list notices): it takes them NoticesBatch at a
// time, claims each batch in the ledger in one round trip, and renders and
// sends SendParallel of them at once over the SMTP pool, until none is
// left.
// One such job runs per meeting with notices pending (store.Register says
// when to start one), so a registration costs one asynq job only when none
// runs, and a burst of registrations is sent in batches.
//
// Every notice is still sent at most once as far as Convene can know (the
// ledger is claimed before the send and marked right after it). A notice
// that fails for the time being, or that another run holds, gets an email
// job of its own, retried with the usual backoff; one that bounced gets an
// email job that ends archived, as a bounced email job does.
func (w *Worker) handleNotices(ctx context.Context, t *asynq.Task) error {
	var p noticesPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MeetingID == "" || p.Nonce == "" {
		return fmt.Errorf("bad payload: %w", asynq.SkipRetry)
	}
	log := loggerFrom(ctx, w.Logger).With("meeting_id", p.MeetingID)
	runFor := w.NoticesRunFor
	if runFor <= 0 {
		runFor = 5 * time.Second
	}
	until := w.Now().Add(runFor)
	sent, skipped := 0, 0
	handOver := func() error {
		next := p
		next.Run++
		task, err := newNoticesTask(next)
		if err != nil {
			return err
		}
		if err := enqueue(ctx, w.Queue.Enqueuer, task); err != nil {
			return err
		}
		log.Info("notices: handed over to the next run", "sent", sent, "skipped", skipped, "run", next.Run)
		return nil
	}
	for {
		if w.stopping.Load() {
			return handOver()
		}
		msgs, err := w.Store.TakeNotices(ctx, p.MeetingID, NoticesBatch)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			if sent+skipped > 0 {
				log.Info("notices: none left", "sent", sent, "skipped", skipped)
			}
			return nil
		}
		s, k, err := w.sendNotices(ctx, log, p.MeetingID, msgs)
		sent, skipped = sent+s, skipped+k
		if err != nil {
			return err
		}
		if w.Now().After(until) {
			return handOver()
		}
	}
}

// sendNotices claims and sends one batch of a meeting's notices. It
// returns how many were sent and how many were skipped or handed on; an
// error means some could not be accounted for and stay pending.
func (w *Worker) sendNotices(ctx context.Context, log *slog.Logger, meetingID string, msgs []convene.Message) (sent, skipped int, err error) {
	m, claims, regs, err := w.Store.ClaimSends(ctx, meetingID, msgs, w.LockTTL)
	if convene.ErrorCode(err) == convene.ENOTFOUND {
		for _, msg := range msgs {
			if err := w.Store.Done(ctx, convene.EmailIntent(msg)); err != nil {
				return 0, 0, err
			}
		}
		log.Info("notices skipped: meeting no longer exists", "count", len(msgs))
		return 0, len(msgs), nil
	} else if err != nil {
		return 0, 0, err
	}

	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(1, w.SendParallel))
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for i, msg := range msgs {
		l := log.With("registration_id", msg.RegistrationID, "kind", msg.Kind)
		switch claims[i] {
		case store.ClaimOK:
		case store.ClaimGone:
			l.Info("email skipped: registration no longer exists")
			skipped++
			if err := w.finish(ctx, msg, store.OutcomeSkipped, ""); err != nil {
				fail(err)
			}
			continue
		case store.ClaimBusy:
			skipped++
			if err := w.handOff(ctx, l, msg, errBusy); err != nil {
				fail(err)
			}
			continue
		default: // sent or bounced before: only the outbox entry is left
			skipped++
			if err := w.Store.Done(ctx, convene.EmailIntent(msg)); err != nil {
				fail(err)
			}
			continue
		}
		if reason := stale(msg, m, regs[i]); reason != "" {
			l.Info("email skipped: " + reason)
			skipped++
			if err := w.finish(ctx, msg, store.OutcomeSkipped, ""); err != nil {
				fail(err)
			}
			continue
		}
		data := templates.Data{Meeting: m, Registration: regs[i], Message: msg, Now: m.UpdatedAt}
		sem <- struct{}{}
		if w.stopping.Load() {
			// The worker is stopping: leave the notices not started for
			// the run this one hands over to.
			<-sem
			skipped++
			if err := w.finish(ctx, msg, store.OutcomeRetry, ""); err != nil {
				fail(err)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := w.deliver(ctx, l, data, time.Time{})
			switch {
			case err == nil:
				mu.Lock()
				sent++
				mu.Unlock()
			default:
				// Not sent, and the ledger says why: bounced (its own
				// email job ends archived at once, so that ops see the
				// bounce among the failed jobs) or failed for now (the
				// claim is released; its own job retries it with backoff
				// like any email).
				if herr := w.handOff(ctx, l, msg, err); herr != nil {
					fail(herr)
				}
			}
		}()
	}
	wg.Wait()
	return sent, skipped, errors.Join(errs...)
}

// handOff gives a notice an email job of its own, to run after the retry
// delay of its failure (cause; at once for a bounce, which that job then
// archives), and drops it from the notices outbox. An email job for the
// same message that already exists will do.
func (w *Worker) handOff(ctx context.Context, log *slog.Logger, msg convene.Message, cause error) error {
	task, err := NewEmailTask(msg)
	if err != nil {
		return err
	}
	delay := time.Duration(0)
	if !convene.IsPermanent(cause) {
		delay = RetryDelay(0, cause, task)
	}
	if _, err := w.Queue.Enqueuer.EnqueueContext(ctx, task, asynq.ProcessIn(delay)); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("hand a notice to its own job: %w", err)
	}
	if err := w.Store.Done(ctx, convene.EmailIntent(msg)); err != nil {
		return err
	}
	log.Info("notice handed to its own email job", "in_ms", delay.Milliseconds())
	return nil
}
