/**
 * `tsunicorn ctl COMMAND [ARG] [OPTIONS]`: talks to a running arbiter over
 * its control socket (src/arbiter/control/server.ts), as Gunicorn 26's
 * gunicornc and Puma's pumactl do.
 *
 *   status        a table of the workers (pid, generation, age, state, requests, in flight, memory)
 *   reload        what HUP does
 *   scale N       run N workers (as TTIN/TTOU would, N times)
 *   stop          what TERM does; waits until the arbiter has exited
 *   top           a live view of the workers (ctl/top.ts)
 *   stack [PID]   the JavaScript stack of a worker, or of each
 *   kill PID      replace one worker gracefully
 *   config        the running settings; listeners: each bound address and its workers
 *
 * The socket is found from `--control-socket PATH`, or from the same config
 * file and flags the server was started with (the default path is derived
 * from the working directory, the first --bind and --name). A socket, or a
 * directory holding it, that belongs to another user (not root) is refused:
 * whoever answers there would be trusted with the command. Every exchange
 * has a deadline (--ctl-timeout). Exit codes: 0 done, 1 no server, an
 * untrusted socket, no answer in time, or the server refused; 2 usage.
 */
import process from 'node:process';
import { controlSocketPath } from '../config/control-path.js';
import { resolveConfig } from '../config/resolve.js';
import { ExitCode, describeError } from '../errors.js';
import { DEFAULT_TIMEOUT_S, parseCtlArgs } from './args.js';
import { checkOwner, exchange, within } from './client.js';
import { CtlError } from './ctl-error.js';
import { output } from './render.js';
import { runTop } from './run-top.js';

/** `ctl stack` waits --ctl-timeout plus this per worker (the arbiter's probe deadline), for this many workers. */
const STACK_MS_PER_WORKER = 4000;
const MAX_STACKS_WAITED = 16;

const USAGE = `Usage: tsunicorn ctl COMMAND [ARG] [--json] [--ctl-timeout SECONDS] [--control-socket PATH | the server's options]

Commands:
  status     list the arbiter's workers: pid, generation, age, state, requests, in flight, memory
  reload     reload the configuration and code with new workers (as HUP)
  scale N    run N workers (as TTIN/TTOU)
  stop       stop gracefully (as TERM) and wait for the arbiter to exit; --quick stops at once (as INT)
  top        a live view: req/s, in flight, p50/p99 latency, memory and event-loop use per worker;
             q or Ctrl-C quits; --interval SECONDS (default 1), --count N (stop after N views);
             plain lines when stdout is not a terminal, one JSON object per view with --json
  stack [PID]  the JavaScript stack of worker PID (or of each), read through its inspector without
             stopping it (refused with --no-stack-capture)
  kill PID   replace worker PID gracefully: it finishes its requests and exits, a new one starts
  config     the running settings, as --print-config shows them
  listeners  each bound address: its fd, kind, and the workers serving it

The control socket is --control-socket PATH, or the one the server with the same working directory,
config file and options (-c, -b, -n, --chdir) listens on. A socket or directory owned by another user
(not root) is refused. --ctl-timeout (default ${DEFAULT_TIMEOUT_S}) bounds connecting and the answer; stop then
waits up to the server's --graceful-timeout plus that for the arbiter to exit.`;

export async function ctlMain(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.OK;
  }
  try {
    const { request, top, json, timeoutMs, serverArgs } = parseCtlArgs(argv);
    let settings: Awaited<ReturnType<typeof resolveConfig>>['settings'];
    try {
      ({ settings } = await resolveConfig({ argv: serverArgs, env, cwd }));
    } catch (err) {
      throw new CtlError(describeError(err), ExitCode.USAGE);
    }
    const path = controlSocketPath(settings, cwd, env);
    if (!path)
      throw new CtlError('the control socket is disabled (--no-control-socket); nothing to talk to', ExitCode.USAGE);
    checkOwner(path);
    if (top) {
      await runTop(path, top, json, timeoutMs);
      return ExitCode.OK;
    }
    // Reading stacks pauses each worker in turn, each for up to a few seconds.
    const waitMs = request.cmd === 'stack' ? timeoutMs + STACK_MS_PER_WORKER * MAX_STACKS_WAITED : timeoutMs;
    const { response, closed } = await exchange(path, request, waitMs);
    if (!response.ok) throw new CtlError(response.error, ExitCode.RUNTIME);
    const text = output(response, json);
    if (text !== null) process.stdout.write(`${text}\n`);
    if (response.stacks?.some((s) => !s.stack)) return ExitCode.RUNTIME;
    if (request.cmd === 'stop') {
      // The arbiter closes the control socket as it exits.
      const waitMs = settings.gracefulTimeout * 1000 + timeoutMs;
      await within(closed, waitMs, `the arbiter on ${path} did not exit within ${waitMs / 1000} s of stop`);
      if (!json) process.stdout.write('stopped\n');
    }
    return ExitCode.OK;
  } catch (err) {
    const code = err instanceof CtlError ? err.exitCode : ExitCode.RUNTIME;
    process.stderr.write(`tsunicorn ctl: error: ${err instanceof Error ? err.message : String(err)}\n`);
    return code;
  }
}
