#!/bin/sh
# The production start, shared by `make serve` and the Docker image (its CMD): migrate (on
# PostgreSQL several containers starting at once queue on a lock), then the back end on $PORT
# serving the pages `make build` exported (recovery_app/frontend.py), the websocket and the API.
# With REDIS_URL set it runs CPUs + 1 worker processes, at most 8 (rxconfig.py; GRANIAN_WORKERS
# overrides; more than one without REDIS_URL stops the start).
set -eu
recovery migrate
exec reflex run --env prod --backend-only --backend-port "${PORT:-3000}"
