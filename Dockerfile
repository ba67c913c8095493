# Adjutant: one image for the service and its CLI (start, migrate, doctor).
#
#   docker build -t adjutant .
#   docker run --init --env-file .env -p 3000:3000 -v adjutant-data:/data adjutant
#
# TypeScript runs directly with tsx, as with `npm start`: there is no build step.

FROM node:20-bookworm-slim

# npm's update check and funding messages are noise in a container.
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=3000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

# glibc's malloc, for a small machine: two arenas rather than one per thread that ever allocated,
# and blocks of 128 KB or more mapped on their own, so they go back to the system when freed.
# About 10 MB less resident idle (bench/footprint.bench.ts). `npm start` cannot set them in a
# way that works on every platform; on a Linux host, export them before starting (README).
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. The root package's
# postinstall (scripts/generate-prisma-client.mjs) generates the Prisma client into
# src/db/generated from prisma/schema.prisma; it sets PRISMA_SCHEMA_ENGINE_BINARY itself so
# `prisma generate` needs no engine download. Hence the schema, config and script come
# before `npm ci`. Dev dependencies (compiler, linter, test runner) are not needed to run.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/ ./scripts/
COPY prisma/ ./prisma/
RUN npm ci --omit=dev \
 && npm cache clean --force

# The sources. .dockerignore keeps node_modules, src/db/generated, .env and local data out,
# so the client generated above stays in place.
COPY . .

# Run as the image's unprivileged `node` user. Everything Adjutant writes goes under
# DATA_DIR (the embedded database in /data/pglite when DATABASE_URL is unset).
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

EXPOSE 3000

# /healthz answers 200 when nothing configured is failing, 503 otherwise. The slim image has
# no curl, so node does the request. start-period covers the first open of the embedded
# database and the migrations.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]

# The command `npm start` runs, without npm: node itself is the container's main process, so
# SIGTERM from `docker stop` reaches Adjutant directly, which stops intake, lets running jobs
# finish for a few seconds and releases the rest before exiting; and no npm process sits beside it.
# The flags keep an idle service small (bench/footprint.bench.ts): a 4 MB young generation
# instead of 32, and one V8 background thread instead of four, each of which would otherwise
# keep tens of MB of freed compiler memory in its own malloc arena. Keep them in step with the
# start script in package.json.
CMD ["node", "--max-semi-space-size=2", "--v8-pool-size=1", "bin/adjutant.mjs", "start"]
