package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// Done drops an intent from its meeting's outbox: its job is now known to
// asynq, so the sweep need not enqueue it.
func (s *Store) Done(ctx context.Context, in convene.Intent) error {
	if !inOutbox(in) {
		return nil
	}
	if err := s.rdb.ZRem(ctx, s.outboxOf(in), in.Key()).Err(); err != nil {
		return wrap(err, "outbox: drop %s", in.Key())
	}
	return nil
}

// StaleIntents returns up to limit intents, over all meetings, recorded
// before `before` and still not known to be enqueued: the process that
// recorded them died (or lost Redis) before enqueueing their jobs.
func (s *Store) StaleIntents(ctx context.Context, before time.Time, limit int) ([]convene.Intent, error) {
	ids, err := s.MeetingIDs(ctx)
	if err != nil {
		return nil, err
	}
	// Each meeting's outbox, then its notices outbox.
	cmds := make([]*redis.ZSliceCmd, 2*len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			for j, key := range []string{s.outboxKey(id), s.noticesKey(id)} {
				cmds[2*i+j] = p.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{
					Min: "-inf", Max: strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit),
				})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(err, "outbox: scan")
	}
	var out []convene.Intent
	for i, c := range cmds {
		for _, z := range c.Val() {
			member, _ := z.Member.(string)
			in, err := convene.ParseIntent(ids[i/2], member, time.UnixMilli(int64(z.Score)))
			if err != nil {
				continue // not ours to understand; left for an operator
			}
			out = append(out, in)
			if len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// intents turns outbox members returned by a script into intents.
func (s *Store) intents(meetingID string, members []string, at time.Time) []convene.Intent {
	out := make([]convene.Intent, 0, len(members))
	for _, m := range members {
		if in, err := convene.ParseIntent(meetingID, m, at); err == nil {
			out = append(out, in)
		}
	}
	return out
}
