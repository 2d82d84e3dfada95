package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"convene"
	"convene/jobs"
	"convene/store"
)

const opsUsage = `usage: convene ops <command>

commands:
  digest [--organiser EMAIL]   send the organiser digests now (the same rules as a tick:
                               only what changed since each organiser's previous digest)
`

// runOps runs an operator command against the configured Redis.
func runOps(ctx context.Context, args []string, rdb redis.UniversalClient, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, opsUsage)
		return usageError{"ops: no command given"}
	}
	switch args[0] {
	case "digest":
		fs := flag.NewFlagSet("ops digest", flag.ContinueOnError)
		fs.SetOutput(stderr)
		organiser := fs.String("organiser", "", "send only this organiser's digest")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err.Error()}
		}
		orgID := ""
		if *organiser != "" {
			addr, err := convene.ParseEmail(*organiser)
			if err != nil {
				return usageError{"ops digest: --organiser: " + convene.ErrorMessage(err)}
			}
			orgID = store.OrganiserID(addr)
		}
		task, err := jobs.NewDigestTickTask(time.Now().Truncate(time.Second), orgID)
		if err != nil {
			return err
		}
		client := asynq.NewClientFromRedisClient(rdb)
		defer client.Close()
		info, err := client.EnqueueContext(ctx, task)
		if err != nil {
			return fmt.Errorf("ops digest: %w", err)
		}
		fmt.Fprintf(stdout, "digest enqueued: task %s\n", info.ID)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, opsUsage)
		return nil
	}
	fmt.Fprint(stderr, opsUsage)
	return usageError{fmt.Sprintf("ops: unknown command %q", args[0])}
}
