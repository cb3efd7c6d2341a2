/**
 * Every error a user can see has a stable code (TSU_ERR_*) and an exit code.
 * The table below is the single source; docs/errors.md is generated from it
 * and a test fails when the two disagree.
 */

export const ExitCode = {
  /** Clean stop. */
  OK: 0,
  /** Runtime failure, including a listener that cannot be bound. */
  RUNTIME: 1,
  /** Bad command line or configuration. */
  USAGE: 2,
  /** A worker failed to boot for a reason other than loading the app. */
  WORKER_BOOT: 3,
  /** The application module or its export could not be loaded. */
  APP_LOAD: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorSpec {
  exit: ExitCode;
  doc: string;
}

export const ERRORS = {
  TSU_ERR_USAGE: { exit: ExitCode.USAGE, doc: 'A command-line flag is unknown, missing its value, or used wrongly.' },
  TSU_ERR_INVALID_SETTING: {
    exit: ExitCode.USAGE,
    doc: 'A setting has a value outside what it allows; the message names the setting, the value and what is allowed.',
  },
  TSU_ERR_UNKNOWN_SETTING: {
    exit: ExitCode.USAGE,
    doc: 'A config file or TSUNICORN_CMD_ARGS names a setting that does not exist.',
  },
  TSU_ERR_CONFIG_LOAD: { exit: ExitCode.USAGE, doc: 'The config file could not be found, read or evaluated.' },
  TSU_ERR_NO_APP: { exit: ExitCode.USAGE, doc: 'No application was named on the command line or in the config file.' },
  TSU_ERR_BAD_APP_SPEC: { exit: ExitCode.USAGE, doc: 'The MODULE[:EXPORT] application spec cannot be parsed.' },
  TSU_ERR_BIND: {
    exit: ExitCode.RUNTIME,
    doc: 'A listener could not be bound (address in use, permission denied, bad address).',
  },
  TSU_ERR_PIDFILE: { exit: ExitCode.RUNTIME, doc: 'The pidfile names a live process, or cannot be written.' },
  TSU_ERR_APP_NOT_FOUND: { exit: ExitCode.APP_LOAD, doc: 'The application module cannot be found.' },
  TSU_ERR_APP_EXPORT: {
    exit: ExitCode.APP_LOAD,
    doc: 'The module has no such export, or the export is not a request listener, fetch handler or factory.',
  },
  TSU_ERR_APP_IMPORT: {
    exit: ExitCode.WORKER_BOOT,
    doc: 'The application module threw while being imported or while its factory ran.',
  },
  TSU_ERR_WORKER_BOOT: {
    exit: ExitCode.WORKER_BOOT,
    doc: 'A worker failed to boot for another reason (for example it could not listen).',
  },
  TSU_ERR_NODE_VERSION: { exit: ExitCode.RUNTIME, doc: 'The running Node.js is older than tsunicorn supports.' },
  TSU_ERR_TLS: {
    exit: ExitCode.USAGE,
    doc:
      'The TLS certificate, key or CA file cannot be read or does not load (key mismatch, not PEM, bad --ciphers), ' +
      'or the sslContext hook failed.',
  },
  TSU_ERR_USER: {
    exit: ExitCode.USAGE,
    doc: '--user or --group names no such user or group, or the arbiter is not allowed to switch to it (not root).',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A user-facing error: `message` is one line naming what is wrong. */
export class TsuError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TsuError';
    this.code = code;
    this.exitCode = ERRORS[code].exit;
  }
}

/** One line for any thrown value, for places that must print something. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const first = (err.message || String(err)).split('\n')[0] ?? '';
    return err instanceof TsuError || !code ? first : `${first} (${code})`;
  }
  return String(err);
}
