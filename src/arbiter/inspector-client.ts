/**
 * A minimal Chrome DevTools Protocol client for talking to a worker's
 * inspector, used only by the stack probe (stack-probe.ts).
 *
 * Over the WebSocket framing of websocket-frames.ts, this file handles
 * fragmented messages (continuation frames, RFC 6455 section 5.4), answers
 * ping with pong, and answers close and treats it as the end.
 *
 * It connects only to 127.0.0.1; the caller picks the port. Every operation
 * that waits takes an absolute deadline (a performance.now() value) and
 * rejects once it passes, so nothing here can hang the arbiter.
 */
import http from 'node:http';
import net from 'node:net';
import {
  MAX_MESSAGE_BYTES,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  decodeFrame,
  encodeFrame,
  handshake,
} from './websocket-frames.js';

const LOOPBACK = '127.0.0.1';

/** Rejects with `Error(what timed out)` when `deadline` (performance.now() ms) passes first. */
export function withDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
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
  /** Unparsed bytes received so far, as chunks, and their total size. */
  private chunks: Buffer[] = [];
  private received = 0;
  /** Bytes needed before the first frame in `chunks` can be complete. */
  private needed = 2;
  /** Payload pieces of a fragmented message in progress, and its total size. */
  private fragments: Buffer[] = [];
  private fragmentsSize = 0;
  private fragmented = false;
  private closedWith: Error | null = null;

  private constructor(private readonly socket: net.Socket) {}

  /**
   * Opens ws://127.0.0.1:port + path. Only the path of a webSocketDebuggerUrl
   * is used: the host is always loopback whatever the URL says.
   */
  static async connect(port: number, path: string, deadline: number): Promise<InspectorClient> {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setNoDelay(true);
    try {
      const leftover = await withDeadline(handshake(socket, port, path), deadline, 'WebSocket handshake');
      const client = new InspectorClient(socket);
      client.attach(leftover);
      return client;
    } catch (err) {
      socket.destroy();
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
    this.socket.write(encodeFrame(OP_TEXT, Buffer.from(JSON.stringify({ id, method, params }), 'utf8')));
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

  /** Sends a close frame (best effort) and drops the connection. */
  close(): void {
    if (!this.socket.destroyed && !this.closedWith) {
      this.socket.end(encodeFrame(OP_CLOSE, Buffer.from([0x03, 0xe8])), () => this.socket.destroy()); // 1000: normal closure
      this.fail(new Error('inspector connection closed'), false);
    } else {
      this.fail(new Error('inspector connection closed'));
    }
  }

  private attach(leftover: Buffer): void {
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('inspector connection closed by peer')));
    if (leftover.length > 0) this.receive(leftover);
  }

  /**
   * Ends the session: rejects every pending command and wakes every event
   * waiter. With `destroy` false the socket is left to finish a graceful
   * end() already started, but is destroyed after 100 ms regardless, since
   * end() may never complete if the peer stops reading.
   */
  private fail(err: Error, destroy = true): void {
    if (this.closedWith) {
      if (destroy) this.socket.destroy();
      return;
    }
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    // An event with an empty name tells waiters the connection is gone.
    for (const l of [...this.listeners]) l({ method: '', params: {} });
    if (destroy) this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 100).unref();
  }

  /**
   * Appends bytes and handles every complete frame. Chunks are only joined
   * once enough bytes for the pending frame have arrived, so a large message
   * arriving in many small chunks is copied once, not once per chunk.
   */
  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received < this.needed) return;
    let buf = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.received);
    for (;;) {
      if (this.closedWith) return;
      const frame = decodeFrame(buf);
      if (frame instanceof Error) return this.fail(frame);
      if (typeof frame === 'number') {
        // Incomplete: keep the rest and wait for `frame` bytes in all.
        this.chunks = buf.length > 0 ? [buf] : [];
        this.received = buf.length;
        this.needed = frame;
        return;
      }
      buf = buf.subarray(frame.consumed);
      this.handleFrame(frame.fin, frame.opcode, frame.payload);
    }
  }

  private handleFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OP_PING:
        this.socket.write(encodeFrame(OP_PONG, payload));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE:
        // Echo the close (section 5.5.1), then stop.
        if (!this.socket.destroyed) this.socket.end(encodeFrame(OP_CLOSE, payload.subarray(0, 2)));
        return this.fail(new Error('inspector closed the connection'), false);
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragmented) return this.fail(new Error('WebSocket: new message inside a fragmented one'));
        if (fin) return this.handleMessage(payload);
        this.fragmented = true;
        this.fragments = [payload];
        this.fragmentsSize = payload.length;
        return;
      case OP_CONTINUATION:
        if (!this.fragmented) return this.fail(new Error('WebSocket: continuation without a message'));
        this.fragments.push(payload);
        this.fragmentsSize += payload.length;
        if (this.fragmentsSize > MAX_MESSAGE_BYTES) return this.fail(new Error('WebSocket: message too large'));
        if (!fin) return;
        this.fragmented = false;
        this.handleMessage(Buffer.concat(this.fragments));
        this.fragments = [];
        return;
      default:
        return this.fail(new Error(`WebSocket: unknown opcode ${opcode}`));
    }
  }

  /** Dispatches one CDP message: a reply (has an id) or an event (has a method). */
  private handleMessage(payload: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(payload.toString('utf8'));
    } catch {
      return; // not ours to judge; CDP always sends JSON
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: { message?: unknown } };
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
