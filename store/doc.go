// Package store keeps Convene's state in Redis through one go-redis
// UniversalClient (the same client asynq uses).
//
// Every key starts with the store's prefix and, for anything that belongs
// to a meeting, carries the hash tag {m:ID}, so each operation touches one
// hash slot and a Redis Cluster can serve it. Operations that must be atomic
// (registration against capacity, the delivery ledger) are Lua scripts
// flagged with a shebang, so Redis refuses them whole when it is out of
// memory instead of half-running them.
//
// Keys, for a meeting M (prefix "cv"):
//
//	cv:meetings              zset  meeting ids by creation time
//	cv:{m:M}:m               hash  the meeting: fields and counters
//	cv:{m:M}:r:R             hash  registration R, and its delivery ledger: one field
//	                               "m:kind|variant" per message → p:<ms> (being sent), s (sent), b (bounced)
//	cv:{m:M}:rs:R            string resend lock of registration R (10 minutes)
//	cv:{m:M}:e               hash  normalised email → active registration id
//	cv:{m:M}:o               zset  every registration id by arrival order
//	cv:{m:M}:w               zset  waitlisted registration ids by arrival order
//	cv:{m:M}:x               hash  extra reminders: id → JSON
//	cv:{m:M}:xl              zset  cancellation log: registration ids by cancellation number
//	cv:{m:M}:bl              zset  bounce log: registration ids by bounce number
//	cv:{m:M}:q               zset  outbox: intents not yet known to be enqueued, by time
//	                               ("e|R|kind|variant", "f|kind|variant", "s|version")
//	cv:{m:M}:n               zset  notices outbox: each registration's first notice
//	                               ("e|R|confirmation|1", "e|R|waitlisted|1") until sent, by time;
//	                               the meeting's field "nd" (unix ms) says that a job sending
//	                               them runs, and when it last took a batch
//
// Per organiser O (the first 16 hex digits of SHA-256 of the address), and
// for the digest schedule:
//
//	cv:digest:{o:O}          hash  digest state: watermarks per meeting ("r:M", "x:M",
//	                               "b:M": the last registration, cancellation and bounce
//	                               numbers a digest showed), "t" (last tick done), "p"
//	                               (claim of a digest being sent), "unsub"
//	cv:digest:last           string the latest digest tick enqueued (unix seconds), for catch-up
//
// Scripts name every key they touch in KEYS, except keys derived from a
// registration id inside a script (cv:{m:M}:r:R, cv:{m:M}:rs:R); those
// share the meeting's hash tag, so they live in the same slot.
package store
