#!/usr/bin/env bash
# Quick start: installs redis-server when missing, starts a private Redis
# with its data under var/redis (AOF on, as in production), builds convene
# and runs `convene dev` (web + worker + scheduler in one process). Emails
# land as .eml files in var/outbox. Ctrl-C stops convene; Redis keeps
# running in the background (stop it with: redis-cli -s var/redis/redis.sock shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_go
ensure_pkg redis-server redis-server

root=$PWD
mkdir -p var/redis var/outbox var/bin
sock="$root/var/redis/redis.sock"
if ! redis-cli -s "$sock" ping >/dev/null 2>&1; then
  redis-server --daemonize yes --port 0 --unixsocket "$sock" --unixsocketperm 700 \
    --dir "$root/var/redis" --appendonly yes --appendfsync everysec --save "" \
    --maxmemory-policy noeviction --logfile "$root/var/redis/redis.log" \
    --pidfile "$root/var/redis/redis.pid"
  for _ in $(seq 1 100); do redis-cli -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -s "$sock" ping >/dev/null || { echo "!! Redis did not start; see var/redis/redis.log" >&2; exit 1; }

go build -o var/bin/convene ./cmd/convene

export REDIS_URL="${REDIS_URL:-unix://$sock}"
export ORGANISER_TOKENS="${ORGANISER_TOKENS:-dev-organiser-token}"
export OPS_TOKEN="${OPS_TOKEN:-dev-ops-token}"
echo ">> convene dev on http://localhost:${PORT:-8080}  organiser token: $ORGANISER_TOKENS  outbox: var/outbox" >&2
exec var/bin/convene dev
