# syntax=docker/dockerfile:1
# The production image. The builder runs the Makefile targets `make test` runs in CI
# (`make install`, `make build`); the runtime stage gets the virtualenv, the code and the
# exported pages only (no bun, no node_modules), runs as an unprivileged user and starts with
# deploy/serve.sh, the command `make serve` runs. tests/e2e/test_production_image.py starts a
# copy of exactly what the runtime stage's COPY lines take, the way its CMD does.
#
#   docker build -t recovery-app .
#
# PORT is where the server listens (the pages name no address: one build serves any host,
# port and scheme); `-e PORT=...` at run time moves it too.
ARG PORT=3000

FROM node:22-bookworm-slim AS node

FROM python:3.11-slim-bookworm AS builder
# make runs the Makefile; node and npm only fetch bun from the npm registry (the Makefile's way:
# Reflex's own bun installer downloads from the internet at large).
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
# The pinned packages and bun first, in a layer that only a change of these files rebuilds.
COPY Makefile pyproject.toml requirements.lock README.md ./
COPY recovery_app/__init__.py recovery_app/
RUN make install
COPY . .
RUN make build

FROM python:3.11-slim-bookworm
ARG PORT
ENV PORT=${PORT} \
    PATH=/app/.venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The code stays root's (read-only to the app); the app writes only its home and what Reflex
# writes at start and on uploads: its state, upload and marker (.web/backend) directories.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin recovery \
    && install -d -o recovery -g recovery /app/.states /app/uploaded_files /app/.web/backend
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /app/rxconfig.py /app/alembic.ini /app/
COPY --from=builder /app/alembic /app/alembic
COPY --from=builder /app/recovery_app /app/recovery_app
COPY --from=builder /app/assets /app/assets
COPY --from=builder /app/deploy/serve.sh /app/deploy/serve.sh
COPY --from=builder /app/.web/build/client /app/.web/build/client
COPY --from=builder /app/.web/routes.json /app/.web/routes.json
USER recovery
EXPOSE ${PORT}
# 503 (database unreachable) or no answer fails the check; start-period covers the migration.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/api/v1/health\", timeout=4)"]
CMD ["deploy/serve.sh"]
