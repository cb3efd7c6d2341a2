# tsunicorn in a container: builds tsunicorn and serves an app with it.
# As it stands it serves examples/hello.js; for your app, copy your code into /app and change CMD.
#
#   docker build -t tsunicorn .                                   # Node 26, the Active LTS
#   docker build --build-arg NODE_VERSION=24 -t tsunicorn .       # another supported line: 22, 24, 26
#   docker run --rm -it -p 8000:8000 tsunicorn              # Ctrl-C stops it
#   docker run -d --name web -p 8000:8000 tsunicorn && docker stop web   # graceful, within 10 s
#
# See docs/deploy/docker.md: PID 1, signals, --graceful-timeout against `docker stop -t`.

# The Node.js line (the Active LTS by default) and the Debian release of the official node image.
ARG NODE_VERSION=26
ARG DEBIAN=bookworm

# ── build: compile the TypeScript, then keep only production dependencies ──────────────────
FROM node:${NODE_VERSION}-${DEBIAN}-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
# `npm ci` runs the `prepare` script, which builds dist/.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

# ── runtime ───────────────────────────────────────────────────────────────────────────────
FROM node:${NODE_VERSION}-${DEBIAN}-slim
# tini is PID 1: it reaps the orphaned processes an app may leave behind (Node cannot) and
# passes signals on. tsunicorn would also start itself under tini if it found itself PID 1.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    PORT=8000
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY examples/hello.js ./examples/hello.js
# Your app: COPY . /app/ (with a .dockerignore), and set CMD below.

# Never run as root: the image's unprivileged `node` user (uid 1000).
USER node
EXPOSE 8000
# With $PORT set and no --bind, tsunicorn binds 0.0.0.0:$PORT. WEB_CONCURRENCY sets the workers.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/tsunicorn.js"]
# --graceful-timeout 8: a graceful stop ends before `docker stop` (10 s by default) sends SIGKILL.
CMD ["examples/hello.js:app", "--workers", "2", "--graceful-timeout", "8"]
# docker stop sends TERM, tini passes it to the master: a graceful stop (the default STOPSIGNAL).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
