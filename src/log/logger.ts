/**
 * The error log, in Gunicorn's line shape (text, the default):
 *
 *   [2026-11-24 10:00:00 +0000] [1234] [INFO] Booting worker with pid: 1235
 *
 * or one JSON object per line (--log-format json), which pino writes: levels,
 * an ISO time, the pid, and any fields given. pino is loaded only for JSON:
 * its memory would be paid in every process, master and workers alike, and the
 * text lines need none of it (docs/benchmarks.md).
 *
 * Each line goes out in one write(2): the arbiter and all workers share the
 * destination, and a line under PIPE_BUF written in one write(2) is never
 * torn on a pipe or an O_APPEND file. To a file or a terminal the write is
 * synchronous (the error log is low-volume); to
 * a pipe or socket it never blocks (stderr-stream.ts: a reader that stops
 * reading must not stall the arbiter). The access log (hot path) is separate.
 */
import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';
import { StderrStream, stderrIsPipe } from './stderr-stream.js';
import { SyncFile } from './sync-file.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warning: 40, error: 50, critical: 60 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warning(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  critical(msg: string, fields?: Record<string, unknown>): void;
  /** An error with its one-line description; the stack only at debug level. */
  exception(msg: string, err: unknown): void;
  readonly level: LogLevel;
  setLevel(level: LogLevel): void;
  /** Reopens a log file after it was renamed (USR1, logrotate). No-op for stderr. */
  reopen(): void;
  /** A line a worker printed (--capture-output): kept as is if it is already a log line, else logged for that pid. */
  captured(pid: number, line: string, stream: 'stdout' | 'stderr'): void;
  /** Called for every warning, error, critical and exception line, whatever the level (StatsD `log.*` counters). */
  setObserver(observer: LogObserver | null): void;
}

/**
 * What a log observer is told. An `exception` line is also reported as `error`
 * (it is an error-level line); Gunicorn counts it only as an exception.
 */
type LogCount = 'critical' | 'error' | 'warning' | 'exception';
type LogObserver = (kind: LogCount) => void;

export interface LoggerOptions {
  level: LogLevel;
  format?: 'text' | 'json';
  /** `-` or undefined for stderr, else a file path (appended to). */
  destination?: string | null;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A worker's own log line (text or JSON shape), which --capture-output passes through unchanged. */
const ALREADY_LOGGED = /^(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] |\{"level":)/;

/** Gunicorn's `%Y-%m-%d %H:%M:%S %z`, local time. */
function gunicornTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/** Writes records to the destination, as text lines or through pino as JSON. */
interface Emitter {
  emit(level: LogLevel, msg: string, fields: Record<string, unknown> | undefined): void;
  setLevel(level: LogLevel): void;
}

/** Where lines go: a file or terminal (SyncFile), or a pipe (StderrStream). */
interface LineSink {
  write(line: string): void;
  reopen(): void;
}

function textEmitter(out: LineSink): Emitter {
  return {
    emit(level, msg, fields) {
      const pid = typeof fields?.pid === 'number' ? fields.pid : process.pid;
      const stack = typeof fields?.stack === 'string' ? `\n${fields.stack}` : '';
      out.write(`[${gunicornTime(new Date())}] [${pid}] [${level.toUpperCase()}] ${msg}${stack}\n`);
    },
    setLevel() {},
  };
}

function jsonEmitter(out: LineSink, level: LogLevel): Emitter {
  // Loaded here only (see the top of this file); pino is CommonJS, so this stays synchronous.
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const base: PinoLogger<LogLevel> = pino<LogLevel>(
    {
      level,
      customLevels: LEVELS,
      useOnlyCustomLevels: true,
      // pid through a mixin rather than `base`, so a line captured from a worker can carry the worker's pid.
      base: null,
      mixin: () => ({ pid: process.pid }),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
    },
    { write: (line: string) => out.write(line) },
  );
  return {
    emit: (lvl, msg, fields) => (fields ? base[lvl](fields, msg) : base[lvl](msg)),
    setLevel(next) {
      base.level = next;
    },
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const toFile = options.destination && options.destination !== '-' ? options.destination : null;
  let level = options.level;
  const where = toFile ? 'the error log file' : 'stderr';
  const lost = (n: number) => emitter.emit('warning', `${n} log lines lost: ${where} was not writable`, undefined);
  const out: LineSink = !toFile && stderrIsPipe() ? new StderrStream(lost) : new SyncFile(toFile, lost);
  const emitter = options.format === 'json' ? jsonEmitter(out, level) : textEmitter(out);
  const enabled = (l: LogLevel) => LEVELS[l] >= LEVELS[level];
  let observer: LogObserver | null = null;
  const at = (lvl: LogLevel) => {
    const counted = lvl === 'warning' || lvl === 'error' || lvl === 'critical' ? lvl : null;
    return (msg: string, fields?: Record<string, unknown>) => {
      if (counted) observer?.(counted);
      if (enabled(lvl)) emitter.emit(lvl, msg, fields);
    };
  };
  return {
    setObserver(next) {
      observer = next;
    },
    get level() {
      return level;
    },
    setLevel(next) {
      level = next;
      emitter.setLevel(next);
    },
    reopen() {
      out.reopen();
    },
    captured(pid, line, stream) {
      if (ALREADY_LOGGED.test(line)) out.write(`${line}\n`);
      else {
        const lvl = stream === 'stderr' ? 'error' : 'info';
        if (enabled(lvl)) emitter.emit(lvl, line, { pid });
      }
    },
    debug: at('debug'),
    info: at('info'),
    warning: at('warning'),
    error: at('error'),
    critical: at('critical'),
    exception(msg, err) {
      observer?.('exception');
      observer?.('error');
      if (!enabled('error')) return;
      const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
      const stack = enabled('debug') && err instanceof Error ? err.stack : undefined;
      emitter.emit('error', `${msg}: ${detail}`, stack ? { stack } : {});
    },
  };
}
