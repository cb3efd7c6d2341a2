/**
 * `ctl top`'s loop: a status answer each interval, drawn in place on a terminal or printed as lines or JSON.
 * What each view shows is computed in top.ts.
 */
import process from 'node:process';
import { ExitCode } from '../errors.js';
import { exchange } from './client.js';
import { CtlError } from './ctl-error.js';
import { type TopMemory, formatTop, topJson, topView } from './top.js';

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';

/**
 * `ctl top`: a status answer each interval, drawn in place on a terminal (alternate screen, raw stdin: q or
 * Ctrl-C quits, and the screen is given back as it was), else printed as plain lines or JSON, one view each.
 */
export async function runTop(
  path: string,
  opts: { intervalMs: number; count: number },
  json: boolean,
  timeoutMs: number,
): Promise<void> {
  const out = process.stdout;
  const screen = out.isTTY === true && !json;
  const stdin = process.stdin;
  const keys = screen && stdin.isTTY === true;
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const onKey = (data: Buffer) => {
    if (data.includes(0x71) || data.includes(0x51) || data.includes(0x03)) quit();
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, quit);
  if (screen) out.write(ALT_SCREEN_ON);
  if (keys) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  }
  const memory: TopMemory = new Map();
  try {
    for (let n = 1; ; n++) {
      const { response } = await exchange(path, { cmd: 'status' }, timeoutMs);
      if (!response.ok) throw new CtlError(response.error, ExitCode.RUNTIME);
      if (!response.status) throw new CtlError(`${path} answered status without one`, ExitCode.RUNTIME);
      const view = topView({ status: response.status, at: performance.now() }, memory);
      const time = new Date();
      if (json) out.write(`${topJson(view, time.toISOString())}\n`);
      else {
        const lines = formatTop(view, time.toISOString().slice(11, 19));
        if (screen) {
          const cols = out.columns || 80;
          const rows = out.rows || 24;
          const help = 'q: quit';
          const frame = [...lines, '', help].slice(0, rows).map((l) => `${l.slice(0, cols)}\x1b[K`);
          out.write(`\x1b[H${frame.join('\r\n')}\x1b[J`);
        } else out.write(`${lines.join('\n')}\n\n`);
      }
      if (opts.count > 0 && n >= opts.count) return;
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), opts.intervalMs)));
      const stop = await Promise.race([tick, quitting.then(() => true)]);
      clearTimeout(timer);
      if (stop) return;
    }
  } finally {
    for (const sig of signals) process.off(sig, quit);
    if (keys) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
    if (screen) out.write(ALT_SCREEN_OFF);
  }
}
