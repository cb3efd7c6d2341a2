import { STDOUT_FD_ENV } from '../../protocol.js';
import type { Settings } from '../../config/settings.js';
import { compileAccessFormat, jsonAccessLine } from '../../log/access-log.js';
import { LineWriter } from '../../log/line-writer.js';
import type { Logger } from '../../log/logger.js';
import type { RequestSink } from '../http/request-observer.js';

/** The access log of --access-logfile: its writer, and the request sink that formats a line per request. */
export interface AccessLog {
  writer: LineWriter;
  sink: RequestSink;
}

/** Opens the access log when --access-logfile is set: text in Gunicorn's format, or JSON. */
export function openAccessLog(settings: Settings, log: Logger): AccessLog | null {
  if (!settings.accessLogfile) return null;
  // With --capture-output our stdout is a pipe into the error log; the arbiter's stdout is passed as another fd.
  const stdoutFd = Number(process.env[STDOUT_FD_ENV]) || 1;
  const name = settings.accessLogfile === '-' ? 'stdout' : settings.accessLogfile;
  const writer = new LineWriter(settings.accessLogfile, stdoutFd, (t) => {
    if (t.kind === 'failing') {
      log.error(`Access log ${name}: cannot write (${t.code}); lines are dropped until it can`);
    } else log.warning(`Access log ${name}: ${t.lost} lines lost (${t.code}); writing again`);
  });
  const format = settings.logFormat === 'json' ? jsonAccessLine : compileAccessFormat(settings.accessLogformat ?? '');
  return { writer, sink: (record) => writer.write(format(record)) };
}
