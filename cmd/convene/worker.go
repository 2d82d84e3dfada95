package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene"
	"convene/config"
	"convene/jobs"
	"convene/mailer"
	"convene/metrics"
	"convene/store"
	"convene/templates"
)

var (
	_ jobs.Store    = (*store.Store)(nil)
	_ jobs.Sender   = (*mailer.Mailer)(nil)
	_ jobs.Renderer = (*templates.Renderer)(nil)
)

// workerShutdownTimeout is how long a worker waits at SIGTERM for jobs in
// flight: longer than one SMTP exchange may take, so a send is finished
// rather than abandoned.
const workerShutdownTimeout = mailer.DefaultTimeout + 10*time.Second

func runWorker(ctx context.Context, cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger) error {
	m := metrics.New(nil)
	rw, closeFn, err := startWorker(cfg, rdb, logger, m)
	if err != nil {
		return err
	}
	defer closeFn()
	errc := make(chan error, 1)
	if cfg.MetricsPort >= 0 {
		go func() { errc <- serveMetrics(ctx, cfg, m, logger) }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	rw.stop(logger)
	return err
}

// startWorker starts an asynq server running every job, and returns it
// with a function that releases what it holds (the SMTP pool).
func startWorker(cfg config.Config, rdb redis.UniversalClient, logger *slog.Logger, met *metrics.Metrics) (*runningWorker, func(), error) {
	m, err := mailer.New(cfg.MailURL, cfg.MailFrom, mailer.WithLogger(logger))
	if err != nil {
		return nil, nil, &config.Error{Var: "MAIL_URL or MAIL_FROM", Msg: err.Error()}
	}
	r, err := templates.New(templates.Options{From: m.From()})
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	signer, err := convene.NewSigner(cfg.SigningKey)
	if err != nil {
		m.Close()
		return nil, nil, &config.Error{Var: "SIGNING_KEY", Msg: convene.ErrorMessage(err)}
	}
	st := store.New(rdb, store.WithWait(cfg.RedisWaitReplicas, cfg.RedisWaitTimeout))
	finishing := st.NewFinishBatcher()
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	w := &jobs.Worker{
		Store:     batchedLedger{st, finishing},
		Sender:    m,
		Renderer:  r,
		Queue:     jobs.Queue{Enqueuer: client, Tasks: inspector},
		Tasks:     inspector,
		Signer:    signer,
		PublicURL: cfg.PublicURL,
		Logger:    logger,
		Now:       time.Now,
		LockTTL:   2 * mailer.DefaultTimeout,
		// Twice as many notices at once as the mailer has connections, so
		// that each connection has the next message rendered and waiting,
		// and no more than WORKER_CONCURRENCY allows jobs in flight.
		SendParallel: min(2*mailer.DefaultPoolSize, cfg.WorkerConcurrency),
		SweepAge:     cfg.SweepInterval,

		Digests:        st,
		DigestRenderer: r,
		DigestLocation: cfg.DigestTimezone,
		Metrics:        met,
		AfterSent:      faultAfterSent(),
	}
	srv := asynq.NewServerFromRedisClient(rdb, jobs.ServerConfig(cfg.WorkerConcurrency, workerShutdownTimeout, logger))
	if err := srv.Start(jobs.NewMux(w)); err != nil {
		finishing.Close()
		m.Close()
		return nil, nil, err
	}
	logger.Info("worker started", "concurrency", cfg.WorkerConcurrency, "queues", jobs.Queues)
	return &runningWorker{srv: srv, worker: w}, func() { finishing.Close(); client.Close(); m.Close() }, nil
}

// batchedLedger is the store of the worker: the ledger writes of sends
// running at the same time share round trips.
type batchedLedger struct {
	*store.Store
	finishing *store.FinishBatcher
}

// FinishMessage records a send's outcome in the next shared round trip.
func (s batchedLedger) FinishMessage(ctx context.Context, msg convene.Message, outcome, emailStatus string) error {
	return s.finishing.FinishMessage(ctx, msg, outcome, emailStatus)
}

// runningWorker is a started asynq server and the jobs it runs.
type runningWorker struct {
	srv    *asynq.Server
	worker *jobs.Worker
}

// stop tells the jobs to finish the sends they started and hand the rest
// over, then waits for them (up to workerShutdownTimeout).
func (r *runningWorker) stop(logger *slog.Logger) {
	logger.Info("worker shutting down", "timeout", workerShutdownTimeout.String())
	r.worker.Stop()
	r.srv.Shutdown()
	logger.Info("worker stopped")
}
