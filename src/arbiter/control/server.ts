/**
 * The arbiter's control socket: a unix socket (mode 0600) taking
 * newline-delimited JSON requests from `tsunicorn ctl` (src/arbiter/
 * control/protocol.ts). Requests are not acted on here: each becomes an
 * event on the arbiter's queue and is answered from the loop, so a `scale`
 * or `reload` is ordered with signals exactly as TTIN or HUP would be.
 *
 * The default location is a directory private to the arbiter's user
 * (control-path.ts): created 0700 here and checked for owner and mode, or no
 * control socket at all. The file is removed at exit only while it is still this arbiter's socket
 * (same inode): a USR2 successor listens on `PATH.2` and renames it to PATH
 * once promoted, after its predecessor has removed its own.
 */
import fs from 'node:fs';
import net from 'node:net';
import nodePath from 'node:path';
import { controlSocketDir, fileFacts, privateDirProblem } from '../../config/control-path.js';
import { describeError } from '../../errors.js';
import { Lifecycle } from '../../lifecycle.js';
import type { Logger } from '../../log/logger.js';
import { unixSocketAnswers } from '../sockets/unix-probe.js';
import { type ControlRequest, type ControlResponse, parseControlRequest } from './protocol.js';

/** A request line longer than this is refused and the connection closed. */
const MAX_LINE = 64 * 1024;

export type ControlHandler = (request: ControlRequest, reply: (response: ControlResponse) => void) => void;

/** The default directory for control sockets: created 0700 if missing; why it is not private to us, or null. */
function preparePrivateDir(dir: string): string | null {
  const uid = process.geteuid?.() ?? 0;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${dir}: ${describeError(err)}`;
  }
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  return st ? privateDirProblem(dir, fileFacts(st), uid) : `${dir} vanished`;
}

export class ControlServer {
  private readonly connections = new Set<net.Socket>();
  private readonly life = new Lifecycle({
    // Graceful: no new connections and the file goes; each open exchange ends when ctl closes its side.
    close: (done) => {
      this.stopListening();
      if (this.connections.size === 0) return done();
      for (const s of this.connections) s.once('close', () => this.connections.size === 0 && done());
    },
    destroy: (done) => {
      this.stopListening();
      for (const s of this.connections) s.destroy();
      done();
    },
  });

  private constructor(
    private readonly server: net.Server,
    private path: string,
    private readonly ino: number,
  ) {}

  /**
   * Listens on `path`. A stale socket file (nothing answering) is replaced; a
   * live one, or a file that is not a socket, is left alone and the arbiter
   * runs without a control socket (logged): it is an operator convenience,
   * never a reason not to serve.
   */
  static async listen(path: string, handle: ControlHandler, log: Logger): Promise<ControlServer | null> {
    try {
      if (nodePath.dirname(path) === controlSocketDir(process.env)) {
        const problem = preparePrivateDir(nodePath.dirname(path));
        if (problem) {
          log.warning(`Control socket: ${problem}; running without one (set --control-socket or XDG_RUNTIME_DIR)`);
          return null;
        }
      }
      const st = fs.lstatSync(path, { throwIfNoEntry: false });
      if (st) {
        if (!st.isSocket()) {
          log.warning(`Control socket: ${path} exists and is not a socket; running without one (--control-socket)`);
          return null;
        }
        if (await unixSocketAnswers(path)) {
          log.warning(
            `Control socket: another tsunicorn answers on ${path}; running without one (set --control-socket)`,
          );
          return null;
        }
        fs.unlinkSync(path);
      }
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // bind(2) happens inside listen() in a primary process: the umask makes the file 0600 from its
        // first instant (chmod afterwards would leave a window where others could connect).
        const umask = process.umask(0o177);
        try {
          server.listen(path, resolve);
        } finally {
          process.umask(umask);
        }
      });
      const cs = new ControlServer(server, path, fs.lstatSync(path).ino);
      server.on('error', () => {});
      server.on('connection', (socket) => cs.serve(socket, handle));
      return cs;
    } catch (err) {
      log.warning(`Control socket: cannot listen on ${path}: ${describeError(err)}; running without one`);
      return null;
    }
  }

  /** A promoted USR2 successor takes the real path (PATH.2 → PATH). */
  rename(to: string, log: Logger): void {
    try {
      fs.renameSync(this.path, to);
      this.path = to;
    } catch (err) {
      log.warning(`Control socket: cannot move ${this.path} to ${to}: ${describeError(err)}`);
    }
  }

  /** Stops listening and removes the file if it is still ours; resolves once every open connection has ended. */
  close(): Promise<void> {
    return this.life.close();
  }

  /** As close(), and drops the open connections now (`ctl stop` waits for its connection to drop). */
  destroy(): Promise<void> {
    return this.life.destroy();
  }

  private stopListening(): void {
    this.server.close();
    try {
      if (fs.lstatSync(this.path).ino === this.ino) fs.unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  private serve(socket: net.Socket, handle: ControlHandler): void {
    if (this.life.closed) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buf = '';
    const reply = (response: ControlResponse) => {
      if (socket.writable) socket.write(`${JSON.stringify(response)}\n`);
    };
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) {
          const request = parseControlRequest(line);
          if (typeof request === 'string') reply({ ok: false, error: request });
          else handle(request, reply);
        }
        nl = buf.indexOf('\n');
      }
      if (buf.length > MAX_LINE) {
        reply({ ok: false, error: `request line longer than ${MAX_LINE} bytes` });
        socket.end();
      }
    });
  }
}
