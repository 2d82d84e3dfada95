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
//	cv:{m:M}:r:R             hash  registration R
//	cv:{m:M}:e               hash  normalised email → active registration id
//	cv:{m:M}:o               zset  every registration id by arrival order
//	cv:{m:M}:w               zset  waitlisted registration ids by arrival order
//	cv:{m:M}:q               zset  email intents not yet known to be enqueued ("R|kind|variant" by time)
//	cv:{m:M}:l               hash  delivery ledger: "R|kind|variant" → p:<ms> (sending), s (sent), b (bounced)
package store
