/**
 * `tsunicorn ctl`'s command line: the command and its argument, ctl's own options (--json, --quick,
 * --ctl-timeout, top's --interval and --count), and the rest, which are the server's options and locate
 * its control socket as the server itself would.
 */
import { CONTROL_COMMANDS, type ControlRequest, MAX_WORKERS, isPid } from '../arbiter/control/protocol.js';
import { usage } from './ctl-error.js';

/** How long connecting and getting the answer may take, unless --ctl-timeout says otherwise. */
export const DEFAULT_TIMEOUT_S = 10;

export interface CtlArgs {
  /** `top` asks for `status` each interval. */
  request: ControlRequest;
  top: { intervalMs: number; count: number } | null;
  json: boolean;
  timeoutMs: number;
  serverArgs: string[];
}

/** Removes `--ctl-timeout N` (or `=N`) from args; the timeout in ms. */
function takeTimeout(args: string[]): number {
  let seconds = DEFAULT_TIMEOUT_S;
  for (let i = 0; i < args.length; i++) {
    const m = /^--ctl-timeout(?:=(.*))?$/.exec(args[i]!);
    if (!m) continue;
    const raw = m[1] ?? args[i + 1];
    args.splice(i, m[1] === undefined ? 2 : 1);
    if (raw === undefined || !/^\d+(\.\d+)?$/.test(raw) || !(Number(raw) > 0)) {
      throw usage(
        `--ctl-timeout needs a number of seconds above 0${raw === undefined ? '' : `, got ${JSON.stringify(raw)}`}`,
      );
    }
    seconds = Number(raw);
    i--;
  }
  return seconds * 1000;
}

/** Removes `NAME N` (or `NAME=N`) from args: a number of seconds above 0, or with `whole` a count from 1. */
function takeNumber(args: string[], name: string, fallback: number, whole: boolean): number {
  let value = fallback;
  for (let i = 0; i < args.length; i++) {
    const m = new RegExp(`^${name}(?:=(.*))?$`).exec(args[i]!);
    if (!m) continue;
    const raw = m[1] ?? args[i + 1];
    args.splice(i, m[1] === undefined ? 2 : 1);
    const shape = whole ? /^[1-9]\d{0,8}$/ : /^\d+(\.\d+)?$/;
    const ok = raw !== undefined && shape.test(raw) && Number(raw) >= (whole ? 1 : 0.1);
    if (!ok) {
      const what = whole ? 'a whole number from 1' : 'a number of seconds from 0.1';
      throw usage(`${name} needs ${what}${raw === undefined ? '' : `, got ${JSON.stringify(raw)}`}`);
    }
    value = Number(raw);
    i--;
  }
  return value;
}

const TOP_ONLY = ['top'];

/** Parses ctl's arguments; throws a usage CtlError (exit 2) naming what is wrong. */
export function parseCtlArgs(argv: string[]): CtlArgs {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw usage('no command given');
  const known = [...CONTROL_COMMANDS, ...TOP_ONLY];
  if (!known.includes(cmd)) throw usage(`unknown command ${JSON.stringify(cmd)}; commands: ${known.join(', ')}`);
  const json = rest.includes('--json');
  const quick = rest.includes('--quick');
  let serverArgs = rest.filter((a) => a !== '--json' && a !== '--quick');
  const timeoutMs = takeTimeout(serverArgs);
  if (quick && cmd !== 'stop') throw usage('--quick only goes with stop');
  const intervalS = takeNumber(serverArgs, '--interval', 1, false);
  const count = takeNumber(serverArgs, '--count', 0, true);
  if (cmd !== 'top' && (intervalS !== 1 || count !== 0)) throw usage('--interval and --count only go with top');
  if (cmd === 'top') {
    return { request: { cmd: 'status' }, top: { intervalMs: intervalS * 1000, count }, json, timeoutMs, serverArgs };
  }
  let request: ControlRequest;
  if (cmd === 'scale') {
    const n = serverArgs[0];
    if (n === undefined || !/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_WORKERS) {
      const got = n === undefined ? '' : `, got ${JSON.stringify(n)}`;
      throw usage(`scale needs a number of workers from 1 to ${MAX_WORKERS}${got}`);
    }
    serverArgs = serverArgs.slice(1);
    request = { cmd, workers: Number(n) };
  } else if (cmd === 'stop') {
    request = { cmd, graceful: !quick };
  } else if (cmd === 'stack' || cmd === 'kill') {
    const p = serverArgs[0];
    if (p !== undefined && /^\d+$/.test(p)) serverArgs = serverArgs.slice(1);
    else if (cmd === 'kill') {
      throw usage(`kill needs a worker pid${p === undefined ? '' : `, got ${JSON.stringify(p)}`}`);
    }
    if (p !== undefined && /^\d+$/.test(p) && !isPid(Number(p))) throw usage(`${cmd}: ${p} is not a worker pid`);
    request = p !== undefined && /^\d+$/.test(p) ? { cmd, pid: Number(p) } : { cmd: 'stack' };
  } else {
    request = { cmd: cmd as 'status' | 'reload' | 'config' | 'listeners' };
  }
  return { request, top: null, json, timeoutMs, serverArgs };
}
