/**
 * The error log. pino does levels, child bindings and JSON; in text format a
 * small destination turns each pino record into Gunicorn's line shape:
 *
 *   [2026-11-24 10:00:00 +0000] [1234] [INFO] Booting worker with pid: 1235
 *
 * Writes are synchronous and one line each: the arbiter and all workers share
 * the destination, and a line under PIPE_BUF written in one write(2) is never
 * torn on a pipe or an O_APPEND file. The error log is low-volume, so sync
 * costs nothing measurable; the access log (hot path) is separate.
 */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

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
export type LogCount = 'critical' | 'error' | 'warning' | 'exception';
export type LogObserver = (kind: LogCount) => void;

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
export function gunicornTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

function textDestination(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      const rec = JSON.parse(line) as { time: string; level: string; pid: number; msg?: string; stack?: string };
      const label = rec.level.toUpperCase();
      const stack = rec.stack ? `\n${rec.stack}` : '';
      out.write(`[${gunicornTime(new Date(rec.time))}] [${rec.pid}] [${label}] ${rec.msg ?? ''}${stack}\n`);
    },
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const toFile = options.destination && options.destination !== '-' ? options.destination : null;
  const dest = pino.destination({ dest: toFile ?? 2, sync: true, append: true, mkdir: false });
  const base: PinoLogger<LogLevel> = pino<LogLevel>(
    {
      level: options.level,
      customLevels: LEVELS,
      useOnlyCustomLevels: true,
      // pid through a mixin rather than `base`, so a line captured from a worker can carry the worker's pid.
      base: null,
      mixin: () => ({ pid: process.pid }),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      messageKey: 'msg',
    },
    options.format === 'json' ? dest : textDestination(dest),
  );
  let level = options.level;
  const debugOn = () => LEVELS[level] <= LEVELS.debug;
  let observer: LogObserver | null = null;
  const at = (level: LogLevel) => {
    const counted = level === 'warning' || level === 'error' || level === 'critical' ? level : null;
    return (msg: string, fields?: Record<string, unknown>) => {
      if (counted) observer?.(counted);
      return fields ? base[level](fields, msg) : base[level](msg);
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
      base.level = next;
    },
    reopen() {
      if (toFile) dest.reopen();
    },
    captured(pid, line, stream) {
      if (ALREADY_LOGGED.test(line)) dest.write(`${line}\n`);
      else base[stream === 'stderr' ? 'error' : 'info']({ pid }, line);
    },
    debug: at('debug'),
    info: at('info'),
    warning: at('warning'),
    error: at('error'),
    critical: at('critical'),
    exception(msg, err) {
      observer?.('exception');
      observer?.('error');
      const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
      const stack = debugOn() && err instanceof Error ? err.stack : undefined;
      base.error(stack ? { stack } : {}, `${msg}: ${detail}`);
    },
  };
}
