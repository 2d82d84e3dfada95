package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// createMeeting creates a meeting starting in three days through the
// organiser API (capacity 0: unlimited).
func (e *env) createMeeting(ctx context.Context, web *proc, id string) error {
	return e.createMeetingOf(ctx, web, id, 0)
}

// createMeetingOf creates a meeting starting in three days with the given
// capacity through the organiser API.
func (e *env) createMeetingOf(ctx context.Context, web *proc, id string, capacity int) error {
	body := fmt.Sprintf(`{"id":%q,"title":"Benchmark meeting","kind":"training","starts_at":%q,"timezone":"Europe/Zurich","capacity":%d,"location":"Room 3"}`,
		id, time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339), capacity)
	code, res, err := apiCall(ctx, e.http, http.MethodPost, web.addr+"/v1/meetings", body)
	if err != nil {
		return fmt.Errorf("create meeting %s: %w", id, err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("create meeting %s: %d %v", id, code, res)
	}
	return nil
}

// register registers n participants (addresses <prefix><i>@example.org)
// in a meeting through the API with the setup clients (from many source
// addresses when the phase's web runs with the limits on), and fails
// unless every one was answered 201.
func (e *env) register(ctx context.Context, web *proc, meeting, prefix string, n int) error {
	res := load{
		url:     web.addr + "/v1/meetings/" + meeting + "/registrations",
		body:    registrationBody(prefix),
		clients: e.b.sz.setupClients,
		count:   n,
	}.run(ctx, e.client(e.b.sz.setupClients))
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.ok != n {
		return fmt.Errorf("registered %d of %d in %s: %s", res.ok, n, meeting, res.problems())
	}
	return nil
}

// addReminder adds an extra reminder to a meeting, due at.
func (e *env) addReminder(ctx context.Context, web *proc, meeting string, at time.Time) error {
	body := fmt.Sprintf(`{"send_at":%q,"subject":"Soon"}`, at.UTC().Format(time.RFC3339Nano))
	code, res, err := apiCall(ctx, e.http, http.MethodPost, web.addr+"/v1/meetings/"+meeting+"/reminders", body)
	if err != nil {
		return fmt.Errorf("add reminder to %s: %w", meeting, err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("add reminder to %s: %d %v", meeting, code, res)
	}
	return nil
}

// intake measures registrations/s and latency at intakeClients concurrent
// clients: first against the baseline handler, then against convene web
// (with the intake limits on, its clients from many source addresses,
// unless -limits off), each on its own Redis, with no worker running,
// after an unmeasured warm-up of the same load.
func (b *bench) intake(ctx context.Context, r *results) error {
	// measure runs the warm-up and then the measured load against the
	// process p with client, and also returns the CPU time p used per
	// registration during the measured part.
	measure := func(p *proc, client *http.Client) (warm, res loadResult, cpu string, err error) {
		url := p.addr + "/v1/meetings/bench/registrations"
		warm = load{url: url, body: registrationBody("w"), clients: b.sz.intakeClients, dur: b.sz.intakeWarmup}.run(ctx, client)
		before := p.cpuTime()
		res = load{url: url, body: registrationBody("p"), clients: b.sz.intakeClients, dur: b.sz.intakeFor}.run(ctx, client)
		cpu = cpuPer(p.cpuTime()-before, res.ok)
		if err := ctx.Err(); err != nil {
			return warm, res, cpu, err
		}
		if res.ok == 0 {
			return warm, res, cpu, fmt.Errorf("no registration was created: %s", res.problems())
		}
		return warm, res, cpu, nil
	}

	// The baseline, a process of its own, on its own Redis.
	e, err := b.newEnv(ctx, "intake-baseline")
	if err != nil {
		return err
	}
	base, err := e.startBaseline(ctx, baselineWebRole)
	if err != nil {
		e.close()
		return err
	}
	_, baseRes, baseCPU, err := measure(base, newHTTPClient(2*b.sz.intakeClients))
	e.close()
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	b.logf("baseline intake: %s; its CPU time: %s", baseRes.summary(), baseCPU)

	// convene web, no worker.
	e, err = b.newEnv(ctx, "intake-convene")
	if err != nil {
		return err
	}
	defer e.close()
	web, err := e.startWeb(ctx, b.limits)
	if err != nil {
		return err
	}
	if err := e.createMeeting(ctx, web, "bench"); err != nil {
		return err
	}
	// The profile covers the measured load (it starts during the warm-up).
	wait := e.profile(ctx, web, b.sz.intakeWarmup+b.sz.intakeFor)
	warm, res, cpu, err := measure(web, e.client(2*b.sz.intakeClients))
	wait()
	if err != nil {
		return fmt.Errorf("convene web: %w", err)
	}
	limits := e.limits()
	b.logf("convene intake:  %s; its CPU time: %s", res.summary(), cpu)
	b.logf("limits %s", limits)

	r.IntakeRPS, r.IntakeP99 = res.rps(), percentile(res.latency, 0.99)
	r.BaselineEnqueueRPS, r.BaselineEnqueueP99 = baseRes.rps(), percentile(baseRes.latency, 0.99)
	r.ranWith("intake", limits, warm, res)
	r.note("intake (%d clients, %.1f s after %.1f s warm-up, limits %s): convene %s", b.sz.intakeClients, b.sz.intakeFor.Seconds(), b.sz.intakeWarmup.Seconds(), limits, res.summary())
	r.note("intake baseline: %s", baseRes.summary())
	r.note("intake CPU time: convene web %s; baseline %s", cpu, baseCPU)
	return nil
}

// delivery measures confirmations/s from a full queue to the sink: first a
// minimal asynq worker (concurrency 8, 8 persistent SMTP connections), then
// convene worker, each on its own Redis with deliveries tasks queued
// before the worker starts.
func (b *bench) delivery(ctx context.Context, r *results) error {
	n := b.sz.deliveries
	baseRate, baseSize, baseCPU, err := b.deliveryBaseline(ctx, n)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	e, err := b.newEnv(ctx, "delivery-convene")
	if err != nil {
		return err
	}
	defer e.close()
	web, err := e.start(ctx, "web")
	if err != nil {
		return err
	}
	if err := e.createMeeting(ctx, web, "bench"); err != nil {
		return err
	}
	queued := time.Now()
	if err := e.register(ctx, web, "bench", "p", n); err != nil {
		return err
	}
	b.logf("convene: %d registrations queued in %.1f s; starting the worker", n, time.Since(queued).Seconds())
	e.stopProc(web)
	start := time.Now()
	worker, err := e.start(ctx, "worker")
	if err != nil {
		return err
	}
	defer e.profile(ctx, worker, time.Duration(n/2)*time.Millisecond)()
	msgs, err := e.sink.wait(ctx, "confirmation", n, waitTimeout(n))
	if err != nil {
		return err
	}
	cpu := cpuPer(worker.cpuTime(), n)
	took := msgs[n-1].at.Sub(start)
	rate := float64(n) / took.Seconds()
	b.logf("convene worker: %d confirmations of %.0f bytes on average in %.2f s = %.0f/s (the first %.0f ms after the start); its CPU time: %s", n, e.sink.meanSize(), took.Seconds(), rate, ms(msgs[0].at.Sub(start)), cpu)

	r.DeliveryPerS, r.BaselineDeliveryPerS = rate, baseRate
	r.note("delivery of %d queued confirmations: convene worker %.2f s = %.0f/s (%.0f bytes each); baseline %.0f/s (%.0f bytes each)", n, took.Seconds(), rate, e.sink.meanSize(), baseRate, baseSize)
	r.note("delivery CPU time: convene worker %s; baseline worker %s", cpu, baseCPU)
	return nil
}

// deliveryBaseline enqueues n baseline tasks, then starts the baseline
// worker process (an asynq server with concurrency 8 sending through 8
// persistent go-mail connections), and returns the confirmations/s from its
// start to the nth at the sink. Like convene's worker, it is a process of
// its own, so it reaches the sink and Redis across processes as convene
// does, and shares no Go runtime with the sink.
func (b *bench) deliveryBaseline(ctx context.Context, n int) (rate, size float64, cpu string, err error) {
	e, err := b.newEnv(ctx, "delivery-baseline")
	if err != nil {
		return 0, 0, "", err
	}
	defer e.close()
	rdb := e.redis.client()
	defer rdb.Close()
	if err := enqueueBaseline(ctx, rdb, n); err != nil {
		return 0, 0, "", err
	}

	start := time.Now()
	p, err := e.startBaseline(ctx, baselineWorkerRole)
	if err != nil {
		return 0, 0, "", err
	}
	msgs, err := e.sink.wait(ctx, "confirmation", n, waitTimeout(n))
	if err != nil {
		return 0, 0, "", fmt.Errorf("%w (the baseline worker's log: %s)", err, p.log)
	}
	cpu = cpuPer(p.cpuTime(), n)
	took := msgs[n-1].at.Sub(start)
	rate = float64(n) / took.Seconds()
	b.logf("baseline worker: %d confirmations of %.0f bytes on average in %.2f s = %.0f/s (the first %.0f ms after the start); its CPU time: %s", n, e.sink.meanSize(), took.Seconds(), rate, ms(msgs[0].at.Sub(start)), cpu)
	return rate, e.sink.meanSize(), cpu, nil
}

// enqueueBaseline enqueues n baseline mail tasks from 16 goroutines.
func enqueueBaseline(ctx context.Context, rdb *redis.Client, n int) error {
	client := asynq.NewClientFromRedisClient(rdb)
	work := make(chan int)
	errc := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				payload, _ := json.Marshal(mailTask{
					To: fmt.Sprintf("p%d@example.org", i), Name: fmt.Sprintf("Participant %d", i),
					Registration: fmt.Sprintf("r-%016d", i), Meeting: "bench", // as long as Convene's ids
				})
				if _, err := client.EnqueueContext(ctx, asynq.NewTask(baselineTaskType, payload, asynq.Queue(baselineQueue))); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case work <- i:
		case err = <-errc:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

// e2e measures request start → confirmation accepted by the sink, with web
// and worker running, at a steady e2eRate registrations/s.
func (b *bench) e2e(ctx context.Context, r *results) error {
	e, web, err := b.system(ctx, "e2e", b.limits, "worker")
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.createMeeting(ctx, web, "bench"); err != nil {
		return err
	}
	client := e.client(256)
	url := web.addr + "/v1/meetings/bench/registrations"

	warm := load{url: url, body: registrationBody("w"), rate: b.sz.e2eRate, dur: b.sz.e2eWarmup}.run(ctx, client)
	if _, err := e.sink.wait(ctx, "confirmation", warm.ok, waitTimeout(warm.ok)); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	var mu sync.Mutex
	started := map[string]time.Time{}
	for _, p := range e.procs {
		defer e.profile(ctx, p, b.sz.e2eFor)()
	}
	res := load{
		url: url, body: registrationBody("p"), rate: b.sz.e2eRate, dur: b.sz.e2eFor,
		onCreated: func(start time.Time, answer []byte) {
			var reg struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(answer, &reg) == nil && reg.ID != "" {
				mu.Lock()
				started[reg.ID] = start
				mu.Unlock()
			}
		},
	}.run(ctx, client)
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.ok == 0 || len(started) != res.ok {
		return fmt.Errorf("%d registrations created, %d with an id: %s", res.ok, len(started), res.problems())
	}
	msgs, err := e.sink.wait(ctx, "confirmation", warm.ok+res.ok, waitTimeout(res.ok))
	if err != nil {
		return err
	}
	var lat []float64
	for _, m := range msgs {
		if s, ok := started[m.registration]; ok {
			lat = append(lat, ms(m.at.Sub(s)))
		}
	}
	if len(lat) != res.ok {
		return fmt.Errorf("%d confirmations matched %d registrations", len(lat), res.ok)
	}
	slices.Sort(lat)
	r.E2EP50, r.E2EP99 = percentile(lat, 0.5), percentile(lat, 0.99)
	limits := e.limits()
	r.ranWith("e2e", limits, warm, res)
	line := fmt.Sprintf("%d registrations at %.0f/s: request start → confirmation at the sink p50 %.2f ms, p99 %.2f ms, max %.2f ms; HTTP p99 %.2f ms",
		len(lat), b.sz.e2eRate, r.E2EP50, r.E2EP99, percentile(lat, 1), percentile(res.latency, 0.99))
	if p := res.problems(); p != "" {
		line += "; not created: " + p
	}
	b.logf("%s", line)
	b.logf("limits %s", limits)
	r.note("e2e (limits %s): %s", limits, line)
	return nil
}

// reminders measures the lateness of reminders due at scattered times:
// reminderMeetings meetings of reminderPer confirmed participants, each
// with one extra reminder, due over about reminderSpread with sub-second
// offsets.
func (b *bench) reminders(ctx context.Context, r *results) error {
	meetings, per := b.sz.reminderMeetings, b.sz.reminderPer
	e, web, err := b.fullSystem(ctx, "reminders", false)
	if err != nil {
		return err
	}
	defer e.close()
	for i := range meetings {
		id := fmt.Sprintf("m%d", i)
		if err := e.createMeeting(ctx, web, id); err != nil {
			return err
		}
		if err := e.register(ctx, web, id, "p", per); err != nil {
			return err
		}
	}
	if _, err := e.sink.wait(ctx, "confirmation", meetings*per, waitTimeout(meetings*per)); err != nil {
		return err
	}
	due := map[string]time.Time{}
	base := time.Now().Add(3 * time.Second)
	step := b.sz.reminderSpread / time.Duration(meetings)
	for i := range meetings {
		id := fmt.Sprintf("m%d", i)
		// i·step plus a deterministic scatter of 0–172 ms: due times fall
		// on every part of a second.
		at := base.Add(time.Duration(i)*step + time.Duration(i*7919%173)*time.Millisecond)
		if err := e.addReminder(ctx, web, id, at); err != nil {
			return err
		}
		due[id] = at
	}
	total := meetings * per
	msgs, err := e.sink.wait(ctx, "reminder", total, waitTimeout(total)+b.sz.reminderSpread+3*time.Second)
	if err != nil {
		return err
	}
	var late []float64
	for _, m := range msgs {
		if d, ok := due[m.meeting]; ok {
			late = append(late, ms(m.at.Sub(d)))
		}
	}
	if len(late) != total {
		return fmt.Errorf("%d reminders matched, want %d", len(late), total)
	}
	slices.Sort(late)
	r.ReminderLateP50, r.ReminderLateP99 = percentile(late, 0.5), percentile(late, 0.99)
	r.ReminderEarlyMax = max(0, -late[0])
	line := fmt.Sprintf("%d reminders (%d meetings × %d) due over %.1f s: late p50 %.2f ms, p99 %.2f ms, max %.2f ms; earliest %+.2f ms",
		total, meetings, per, b.sz.reminderSpread.Seconds(), r.ReminderLateP50, r.ReminderLateP99, percentile(late, 1), late[0])
	b.logf("%s", line)
	r.note("reminders: %s", line)
	return nil
}

// memory measures Redis used_memory growth per registration: web and
// worker running, one meeting, memoryRegs registrations through the API,
// measured once their confirmations are sent and the queues are empty.
func (b *bench) memory(ctx context.Context, r *results) error {
	n := b.sz.memoryRegs
	e, web, err := b.system(ctx, "memory", false, "worker")
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.createMeeting(ctx, web, "bench"); err != nil {
		return err
	}
	rdb := e.redis.client()
	defer rdb.Close()
	if err := settle(ctx, rdb); err != nil {
		return err
	}
	before, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := e.register(ctx, web, "bench", "p", n); err != nil {
		return err
	}
	if _, err := e.sink.wait(ctx, "confirmation", n, waitTimeout(n)); err != nil {
		return err
	}
	took := time.Since(start)
	if err := settle(ctx, rdb); err != nil {
		return err
	}
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	r.RedisBytesPerRegistration = float64(after-before) / float64(n)
	line := fmt.Sprintf("%d registrations (registered and confirmed in %.1f s): used_memory %d → %d bytes = %.1f bytes each",
		n, took.Seconds(), before, after, r.RedisBytesPerRegistration)
	b.logf("%s", line)
	r.note("memory: %s", line)
	return nil
}

// settle waits until no asynq task is pending, active or retrying, then a
// little longer for the writes that follow a send.
func settle(ctx context.Context, rdb *redis.Client) error {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	deadline := time.Now().Add(time.Minute)
	for {
		busy := 0
		queues, err := insp.Queues()
		if err != nil {
			return err
		}
		for _, q := range queues {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				return err
			}
			busy += info.Pending + info.Active + info.Retry
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d tasks still pending, active or retrying after a minute", busy)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling the queues
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond): // the ledger write after the last send
		return nil
	}
}

// fullSystem starts a phase with web, worker and scheduler running; the
// web with the intake limits on when limited (see startWeb).
func (b *bench) fullSystem(ctx context.Context, name string, limited bool) (*env, *proc, error) {
	return b.system(ctx, name, limited, "worker", "scheduler")
}

// system starts a phase's environment with the web process (with the
// intake limits on when limited) and then the given other process types
// running.
func (b *bench) system(ctx context.Context, name string, limited bool, modes ...string) (*env, *proc, error) {
	e, err := b.newEnv(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	web, err := e.startWeb(ctx, limited)
	for _, m := range modes {
		if err == nil {
			_, err = e.start(ctx, m)
		}
	}
	if err != nil {
		e.close()
		return nil, nil, err
	}
	return e, web, nil
}
