/**
 * A minimal Chrome DevTools Protocol client for talking to a worker's
 * inspector, used only by the stack probe (stack-probe.ts), over a WHATWG
 * WebSocket: Node's global one where the line has it (22+), undici's on
 * Node 20 (node-compat's webSocketClass). Both are undici's implementation.
 *
 * It connects only to 127.0.0.1; the caller picks the port. Every operation
 * that waits takes an absolute deadline (a performance.now() value) and
 * rejects once it passes, so nothing here can hang the arbiter.
 */
import http from 'node:http';
import { webSocketClass } from '../../node-compat.js';

const LOOPBACK = '127.0.0.1';

let webSocket: Promise<typeof WebSocket> | undefined;
/**
 * Starts loading the WebSocket class, once: on Node 20 that imports undici, which can take
 * hundreds of ms on a busy host, so a probe starts it before waiting for the inspector.
 */
export function loadWebSocket(): Promise<typeof WebSocket> {
  webSocket ??= webSocketClass();
  return webSocket;
}
/** Largest JSON body or message accepted; a CDP reply for a stack is a few hundred KiB at most. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Rejects with `Error(what timed out)` when `deadline` (performance.now() ms) passes first. */
function withDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  const ms = deadline - performance.now();
  if (ms <= 0) return Promise.reject(new Error(`${what}: deadline passed`));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** GET http://127.0.0.1:port/path and parse the body as JSON. */
export async function fetchJson(port: number, path: string, deadline: number): Promise<unknown> {
  let req: http.ClientRequest | undefined;
  const request = new Promise<unknown>((resolve, reject) => {
    req = http.get({ host: LOOPBACK, port, path, agent: false, headers: { host: `${LOOPBACK}:${port}` } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${path}: HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_MESSAGE_BYTES) res.destroy(new Error(`GET ${path}: body too large`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error(`GET ${path}: body is not JSON`));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  try {
    return await withDeadline(request, deadline, `GET ${path}`);
  } finally {
    // However the race ended, never leave the socket open.
    req?.destroy();
  }
}

/** A CDP event: `{ method, params }` without an id. */
export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
}

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/**
 * One CDP session over one WebSocket. Create with `InspectorClient.connect`;
 * always `close()` when done (it is idempotent and never throws).
 */
export class InspectorClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: CdpEvent) => void>();
  private closedWith: Error | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => this.handleMessage(e.data));
    ws.addEventListener('error', () => this.fail(new Error('inspector connection failed')));
    ws.addEventListener('close', () => this.fail(new Error('inspector connection closed by peer')));
  }

  /**
   * Opens ws://127.0.0.1:port + path. Only the path of a webSocketDebuggerUrl
   * is used: the host is always loopback whatever the URL says.
   */
  static async connect(port: number, path: string, deadline: number): Promise<InspectorClient> {
    if (!path.startsWith('/')) throw new Error(`WebSocket handshake: bad path ${JSON.stringify(path)}`);
    const WebSocketClass = await withDeadline(loadWebSocket(), deadline, 'loading the WebSocket client');
    const ws = new WebSocketClass(`ws://${LOOPBACK}:${port}${path}`);
    const opened = new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      const failed = new Error('WebSocket handshake: failed (not a WebSocket endpoint, or refused)');
      ws.addEventListener('error', () => reject(failed), { once: true });
      ws.addEventListener('close', () => reject(new Error('WebSocket handshake: connection closed')), { once: true });
    });
    try {
      await withDeadline(opened, deadline, 'WebSocket handshake');
      return new InspectorClient(ws);
    } catch (err) {
      ws.close();
      throw err;
    }
  }

  /** Sends a command and resolves with its `result`; rejects on a CDP error, close or the deadline. */
  send(method: string, params: Record<string, unknown>, deadline: number): Promise<Record<string, unknown>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.ws.send(JSON.stringify({ id, method, params }));
    return withDeadline(reply, deadline, method).finally(() => this.pending.delete(id));
  }

  /**
   * Resolves with the params of the next event named `method`. Call it before
   * sending the command that triggers the event: events that arrive with
   * nobody waiting are dropped.
   */
  waitForEvent(method: string, deadline: number): Promise<Record<string, unknown>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    let off = (): void => {};
    const event = new Promise<Record<string, unknown>>((resolve, reject) => {
      const listener = (e: CdpEvent): void => {
        if (e.method === method) resolve(e.params);
        else if (e.method === '') reject(this.closedWith ?? new Error('inspector connection closed'));
      };
      this.listeners.add(listener);
      off = () => this.listeners.delete(listener);
    });
    return withDeadline(event, deadline, `waiting for ${method}`).finally(() => off());
  }

  /** Calls `handler` for every event until the returned function is called. */
  onEvent(handler: (event: CdpEvent) => void): () => void {
    this.listeners.add(handler);
    return () => this.listeners.delete(handler);
  }

  /** Starts the closing handshake (1000: normal closure) and ends the session. */
  close(): void {
    this.fail(new Error('inspector connection closed'));
  }

  /** Ends the session: rejects every pending command, wakes every event waiter, and closes the socket. */
  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    // An event with an empty name tells waiters the connection is gone.
    for (const l of [...this.listeners]) l({ method: '', params: {} });
    try {
      this.ws.close(1000);
    } catch {
      // Already closing.
    }
  }

  /** Dispatches one CDP message: a reply (has an id) or an event (has a method). */
  private handleMessage(data: unknown): void {
    if (this.closedWith) return;
    // CDP sends text; anything else, or a message past the cap, ends the session.
    if (typeof data !== 'string') return this.fail(new Error('WebSocket: unexpected binary message'));
    if (data.length > MAX_MESSAGE_BYTES) return this.fail(new Error('WebSocket: message too large'));
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return; // not ours to judge; CDP always sends JSON
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as {
      id?: unknown;
      method?: unknown;
      params?: unknown;
      result?: unknown;
      error?: { message?: unknown };
    };
    if (typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.error) p.reject(new Error(`CDP error: ${String(m.error.message ?? JSON.stringify(m.error))}`));
      else p.resolve((m.result ?? {}) as Record<string, unknown>);
    } else if (typeof m.method === 'string') {
      const event: CdpEvent = { method: m.method, params: (m.params ?? {}) as Record<string, unknown> };
      for (const l of [...this.listeners]) l(event);
    }
  }
}
