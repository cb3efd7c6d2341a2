/**
 * `tsunicorn ctl`'s client side of the control socket: refuse a socket someone else could have planted,
 * then one request and its answer, each exchange within a deadline.
 */
import fs from 'node:fs';
import net from 'node:net';
import nodePath from 'node:path';
import process from 'node:process';
import { fileFacts, untrustedSocketProblem } from '../config/control-path.js';
import type { ControlRequest, ControlResponse } from '../arbiter/control/protocol.js';
import { ExitCode, describeError } from '../errors.js';
import { CtlError } from './ctl-error.js';

/** Refuses a socket that another user (not root) could have put there: it would be trusted with the command. */
export function checkOwner(path: string): void {
  let dir: fs.Stats;
  let sock: fs.Stats;
  try {
    dir = fs.statSync(nodePath.dirname(path));
    sock = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME);
    throw new CtlError(`cannot check ${path}: ${describeError(err)}`, ExitCode.RUNTIME);
  }
  const problem = untrustedSocketProblem(path, fileFacts(dir), fileFacts(sock), process.geteuid?.() ?? 0);
  if (problem) throw new CtlError(`refusing the control socket ${path}: ${problem}`, ExitCode.RUNTIME);
}

/** Rejects with a one-line error when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CtlError(what, ExitCode.RUNTIME)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Sends one request; resolves with the answer and a promise of the connection's end. Destroys it on timeout. */
export async function exchange(
  path: string,
  request: ControlRequest,
  timeoutMs: number,
): Promise<{ response: ControlResponse; closed: Promise<void> }> {
  const socket = net.connect(path);
  try {
    return await within(send(socket, path, request), timeoutMs, `no answer from ${path} within ${timeoutMs / 1000} s`);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function send(
  socket: net.Socket,
  path: string,
  request: ControlRequest,
): Promise<{ response: ControlResponse; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let answered = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 || answered) return;
      answered = true;
      try {
        resolve({ response: JSON.parse(buf.slice(0, nl)) as ControlResponse, closed });
      } catch {
        reject(
          new CtlError(`${path} answered with something that is not tsunicorn's control protocol`, ExitCode.RUNTIME),
        );
      }
      if (request.cmd !== 'stop') socket.end();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')
        reject(new CtlError(`no tsunicorn is listening on ${path}`, ExitCode.RUNTIME));
      else if (err.code === 'EACCES')
        reject(
          new CtlError(`cannot connect to ${path}: permission denied (run ctl as the server's user)`, ExitCode.RUNTIME),
        );
      else reject(new CtlError(`cannot connect to ${path}: ${describeError(err)}`, ExitCode.RUNTIME));
    });
    socket.once('end', () => {
      if (!answered) reject(new CtlError(`${path} closed the connection without answering`, ExitCode.RUNTIME));
    });
  });
}
