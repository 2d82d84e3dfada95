package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"convene/config"
	"convene/internal/logwriter"
)

// run is the whole program: main only calls it, and tests call it with
// their own arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	mode := args[0]
	switch mode {
	case config.ModeWeb, config.ModeWorker, config.ModeScheduler, config.ModeDev, config.ModeOps:
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", mode)}
	}
	cfg, err := config.Load(mode, getenv)
	if err != nil {
		return err
	}
	rdb, err := newRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if mode == config.ModeOps {
		return runOps(ctx, args[1:], rdb, stdout, stderr)
	}
	// Log lines written together (a web process writes one per request)
	// share one write; the last ones are written before run returns.
	logs := logwriter.New(stdout)
	defer logs.Close()
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: logLevel(getenv("LOG_LEVEL"))})).With("process", mode)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	checkRedisSettings(ctx, rdb, logger)

	switch mode {
	case config.ModeWeb:
		return runWeb(ctx, cfg, rdb, logger)
	case config.ModeWorker:
		return runWorker(ctx, cfg, rdb, logger)
	case config.ModeScheduler:
		return runScheduler(ctx, cfg, rdb, logger)
	default:
		return runDev(ctx, cfg, rdb, logger)
	}
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// newRedis builds the one Redis client a process shares between the store
// and asynq: for one server, or for the primary that Sentinel names (the
// client asks the sentinels again after a failover).
func newRedis(cfg config.Config) (redis.UniversalClient, error) {
	const poolSize, minIdle, dialTimeout, retries = 64, 4, 2 * time.Second, 2
	// A read waits for a WAIT (REDIS_WAIT_TIMEOUT) on top of the usual.
	readTimeout := 3*time.Second + cfg.RedisWaitTimeout
	switch cfg.Redis.Topology {
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    cfg.Redis.MasterName,
			SentinelAddrs: cfg.Redis.Addrs,
			Password:      cfg.Redis.Password,
			DB:            cfg.Redis.DB,
			PoolSize:      poolSize,
			MinIdleConns:  minIdle,
			DialTimeout:   dialTimeout,
			ReadTimeout:   readTimeout,
			MaxRetries:    retries,
		}), nil
	case config.RedisCluster:
		return nil, &config.Error{Var: "REDIS_URL", Msg: "redis+cluster:// is not supported by this version of Convene yet; use one server or Sentinel"}
	}
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, &config.Error{Var: "REDIS_URL", Msg: err.Error()}
	}
	opt.PoolSize = poolSize
	opt.MinIdleConns = minIdle
	opt.DialTimeout = dialTimeout
	opt.ReadTimeout = readTimeout
	opt.MaxRetries = retries
	return redis.NewClient(opt), nil
}

// checkRedisSettings warns, once at start, when Redis is not configured for
// the guarantees Convene gives (SPEC §5). It never stops the process.
func checkRedisSettings(ctx context.Context, rdb redis.UniversalClient, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		logger.Warn("cannot read Redis settings (CONFIG GET); the durability checks were skipped", "error", err.Error())
		return
	}
	want := map[string][]string{
		"appendonly":       {"yes"},
		"appendfsync":      {"everysec", "always"},
		"maxmemory-policy": {"noeviction"},
	}
	for name, ok := range want {
		v := got[name]
		good := false
		for _, o := range ok {
			good = good || strings.EqualFold(v, o)
		}
		if !good {
			logger.Warn("Redis setting breaks Convene's guarantees: registrations or queued emails can be lost",
				"setting", name, "value", v, "want", strings.Join(ok, " or "))
		}
	}
}
