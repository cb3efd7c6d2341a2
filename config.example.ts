/**
 * An example tsunicorn config file with every setting at its default.
 * Copy it to `tsunicorn.config.ts` in your project (found automatically) or
 * pass it with `-c`. Values here are overridden by TSUNICORN_CMD_ARGS and the
 * command line. Full reference: docs/settings.md.
 */
import { defineConfig } from 'tsunicorn';

export default defineConfig({
  // ── The app ──────────────────────────────────────────────────────────────
  // MODULE[:EXPORT]; the command line's positional argument wins over this.
  // app: 'dist/server.js:app',
  app: null,

  // ── Server socket ────────────────────────────────────────────────────────
  // Where to listen; several are allowed: 'HOST:PORT', '[::1]:PORT', 'unix:/run/app.sock', 'fd://3'.
  // Defaults to 0.0.0.0:$PORT when $PORT is set.
  bind: ['127.0.0.1:8000'],
  // Pending connections the kernel queues per listener.
  backlog: 2048,

  // ── Worker processes ─────────────────────────────────────────────────────
  // Number of workers; defaults to $WEB_CONCURRENCY when set. Start with one per CPU core.
  workers: 1,
  workerClass: 'async',
  // Most connections one worker holds at once; beyond it, connections wait for a worker with room.
  workerConnections: 1000,
  // Seconds a worker may be silent before it is killed and replaced (0 = never).
  timeout: 30,
  // Seconds a stopping worker may spend finishing in-flight requests.
  gracefulTimeout: 30,
  // Seconds an idle keep-alive connection stays open (0 = close after every response).
  keepAlive: 5,

  // ── Server mechanics ─────────────────────────────────────────────────────
  // Directory to change to before loading the app.
  chdir: null,
  // Extra environment for the workers, as KEY=VALUE.
  env: [],
  // Pidfile of the arbiter, written after binding and removed at exit.
  pid: null,
  // 'auto' detects a request listener (req, res) or a fetch handler (Request) => Response.
  interface: 'auto',

  // ── Logging ──────────────────────────────────────────────────────────────
  logLevel: 'info',

  // ── Process naming ───────────────────────────────────────────────────────
  // Shown in ps as `tsunicorn: master [NAME]`; defaults to the app spec.
  name: null,
});
