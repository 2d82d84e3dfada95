package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"convene"
)

var (
	digestClaimScript  = script("digest_claim")
	digestFinishScript = script("digest_finish")
	digestLastScript   = script("digest_last")
)

// OrganiserID is the stable id of an organiser address: the first 16 hex
// digits of the SHA-256 of its normalised form. Tasks and keys carry it
// instead of the address.
func OrganiserID(email string) string {
	sum := sha256.Sum256([]byte(convene.NormalizeEmail(email)))
	return hex.EncodeToString(sum[:8])
}

func (s *Store) digestKey(orgID string) string { return s.prefix + ":digest:{o:" + orgID + "}" }
func (s *Store) digestLastKey() string         { return s.prefix + ":digest:last" }

// Watermarks are, per meeting, the last registration, cancellation and
// bounce numbers an organiser's digest showed: the next digest shows what
// came after them, so each change lands in exactly one digest.
type Watermarks struct {
	Registration, Cancellation, Bounce int64
}

// DigestState is what the store knows of an organiser's digests.
type DigestState struct {
	LastTick     time.Time
	Unsubscribed bool
	Marks        map[string]Watermarks // by meeting id
}

// DigestState loads an organiser's digest state.
func (s *Store) DigestState(ctx context.Context, orgID string) (DigestState, error) {
	h, err := s.rdb.HGetAll(ctx, s.digestKey(orgID)).Result()
	if err != nil {
		return DigestState{}, wrap(err, "load digest state")
	}
	st := DigestState{Unsubscribed: h["unsub"] == "1", Marks: map[string]Watermarks{}}
	if t, err := strconv.ParseInt(h["t"], 10, 64); err == nil {
		st.LastTick = time.Unix(t, 0)
	}
	for f, v := range h {
		if len(f) < 3 || f[1] != ':' {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		mid := f[2:]
		w := st.Marks[mid]
		switch f[0] {
		case 'r':
			w.Registration = n
		case 'x':
			w.Cancellation = n
		case 'b':
			w.Bounce = n
		}
		st.Marks[mid] = w
	}
	return st, nil
}

// ClaimDigest claims an organiser's digest for a tick (see the Claim
// answers; ClaimSent means this tick, or a later one, was done).
func (s *Store) ClaimDigest(ctx context.Context, orgID string, tick time.Time, lockTTL time.Duration) (Claim, error) {
	res, err := digestClaimScript.Run(ctx, s.rdb, []string{s.digestKey(orgID)},
		strconv.FormatInt(tick.Unix(), 10), ms(s.now()), strconv.FormatInt(lockTTL.Milliseconds(), 10)).Text()
	if err != nil {
		return "", wrap(err, "claim digest")
	}
	switch res {
	case "done":
		return ClaimSent, nil
	case "unsubscribed":
		return ClaimGone, nil
	}
	return Claim(res), nil
}

// FinishDigest records that an organiser's digest for tick is done (sent,
// or there was nothing to send) with the watermarks it reached.
func (s *Store) FinishDigest(ctx context.Context, orgID string, tick time.Time, marks map[string]Watermarks) error {
	args := []any{strconv.FormatInt(tick.Unix(), 10)}
	for mid, w := range marks {
		args = append(args, "r:"+mid, w.Registration, "x:"+mid, w.Cancellation, "b:"+mid, w.Bounce)
	}
	if err := digestFinishScript.Run(ctx, s.rdb, []string{s.digestKey(orgID)}, args...).Err(); err != nil {
		return wrap(err, "finish digest")
	}
	return nil
}

// ReleaseDigest gives up a digest claim so a retry can take it.
func (s *Store) ReleaseDigest(ctx context.Context, orgID string) error {
	if err := digestFinishScript.Run(ctx, s.rdb, []string{s.digestKey(orgID)}, "").Err(); err != nil {
		return wrap(err, "release digest")
	}
	return nil
}

// Unsubscribe stops the digests to an organiser.
func (s *Store) Unsubscribe(ctx context.Context, orgID string) error {
	if err := s.rdb.HSet(ctx, s.digestKey(orgID), "unsub", "1").Err(); err != nil {
		return wrap(err, "unsubscribe")
	}
	return nil
}

// LastDigestTick returns the latest digest tick enqueued (zero if none).
func (s *Store) LastDigestTick(ctx context.Context) (time.Time, error) {
	v, err := s.rdb.Get(ctx, s.digestLastKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap(err, "load last digest tick")
	}
	return time.Unix(v, 0), nil
}

// AdvanceDigestTick records tick as enqueued unless a later one was.
func (s *Store) AdvanceDigestTick(ctx context.Context, tick time.Time) error {
	if err := digestLastScript.Run(ctx, s.rdb, []string{s.digestLastKey()}, strconv.FormatInt(tick.Unix(), 10)).Err(); err != nil {
		return wrap(err, "advance digest tick")
	}
	return nil
}

// Changes are what happened in a meeting after some watermarks.
type Changes struct {
	New, Cancelled, Bounced []convene.Registration
	// Marks are the watermarks that include these changes.
	Marks Watermarks
}

// Empty reports whether nothing happened.
func (c Changes) Empty() bool { return len(c.New)+len(c.Cancelled)+len(c.Bounced) == 0 }

// ChangesSince returns the registrations, cancellations and bounces of a
// meeting after the watermarks w, read at one point in time (one round
// trip), and the watermarks that include them.
func (s *Store) ChangesSince(ctx context.Context, meetingID string, w Watermarks) (Changes, error) {
	var cmds [3]*redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range []struct {
			key  string
			from int64
		}{{s.orderKey(meetingID), w.Registration}, {s.cancelLogKey(meetingID), w.Cancellation}, {s.bounceLogKey(meetingID), w.Bounce}} {
			cmds[i] = p.ZRangeByScoreWithScores(ctx, k.key, &redis.ZRangeBy{Min: "(" + strconv.FormatInt(k.from, 10), Max: "+inf"})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Changes{}, wrap(err, "changes of meeting %s", meetingID)
	}
	c := Changes{Marks: w}
	marks := [3]*int64{&c.Marks.Registration, &c.Marks.Cancellation, &c.Marks.Bounce}
	lists := [3]*[]convene.Registration{&c.New, &c.Cancelled, &c.Bounced}
	for i, cmd := range cmds {
		for _, z := range cmd.Val() {
			if n := int64(z.Score); n > *marks[i] {
				*marks[i] = n
			}
			r, err := s.Registration(ctx, meetingID, z.Member.(string))
			if convene.ErrorCode(err) == convene.ENOTFOUND {
				continue // erased
			} else if err != nil {
				return Changes{}, err
			}
			*lists[i] = append(*lists[i], r)
		}
	}
	return c, nil
}
