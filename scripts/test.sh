#!/usr/bin/env bash
# Every check CI runs: installs redis-server, redis-sentinel, chromium, fonts and axe-core when missing,
# then gofmt, go vet, staticcheck and the whole test suite with the race
# detector (integration and end-to-end tests start their own private
# redis-server processes, SMTP servers and headless Chromium; nothing else
# needs to be running).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_go
ensure_pkg redis-server redis-server
ensure_pkg redis-sentinel redis-sentinel # the Sentinel failover tests (internal/testredis)
ensure_pkg chromium chromium # the browser tests of the queue UI and the participant pages (e2e)
# Glyphs for Arabic and Chinese in the screenshots of the participant pages,
# and axe-core, which their browser tests inject into each page (CONVENE_AXE).
ensure_deb fonts-noto-core fonts-noto-cjk
ensure_axe

echo ">> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './var/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
echo ">> go vet"
go vet ./...
echo ">> staticcheck"
go tool staticcheck ./...
echo ">> go test -race"
go test -race -count=1 -timeout 20m ./...
echo ">> benchmark command, scaled down (CI checks that it runs and prints its figures, not the timings)"
go run ./cmd/convene-bench -quick | tail -1 | grep -q '"redis_bytes_per_registration"'
echo ">> fuzz (short, bounded runs; the corpus lives in testdata/fuzz)"
go test -run '^$' -fuzz '^FuzzRegistrationInput$' -fuzztime 5s .
go test -run '^$' -fuzz '^FuzzTokenVerify$' -fuzztime 5s .
go test -run '^$' -fuzz '^FuzzParticipantEmail$' -fuzztime 5s ./templates
