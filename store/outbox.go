package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

// Enqueued drops msg from its meeting's outbox: its job is now known to
// asynq, so the sweep need not enqueue it.
func (s *Store) Enqueued(ctx context.Context, msg convene.Message) error {
	if err := s.rdb.ZRem(ctx, s.outboxKey(msg.MeetingID), msg.Key()).Err(); err != nil {
		return wrap(err, "outbox: drop %s", msg.Key())
	}
	return nil
}

// StaleOutbox returns up to limit email intents, over all meetings, that
// were recorded before `before` and are still not known to be enqueued:
// the process that stored them died (or lost Redis) before enqueueing.
func (s *Store) StaleOutbox(ctx context.Context, before time.Time, limit int) ([]convene.Message, error) {
	ids, err := s.MeetingIDs(ctx)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.StringSliceCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.ZRangeByScore(ctx, s.outboxKey(id), &redis.ZRangeBy{
				Min: "-inf", Max: strconv.FormatInt(before.UnixMilli(), 10), Count: int64(limit),
			})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(err, "outbox: scan")
	}
	var out []convene.Message
	for i, c := range cmds {
		for _, member := range c.Val() {
			parts := strings.Split(member, "|")
			if len(parts) != 3 {
				continue
			}
			out = append(out, convene.Message{MeetingID: ids[i], RegistrationID: parts[0], Kind: parts[1], Variant: parts[2]})
			if len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}
