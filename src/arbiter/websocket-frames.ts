/**
 * Just enough of RFC 6455 for the inspector client (inspector-client.ts):
 * the client opening handshake with its Sec-WebSocket-Accept check (4.1), so
 * that a non-WebSocket peer is rejected; masked frames to send (clients must
 * mask, 5.3); unmasked frames to receive, with 7, 16 and 64 bit lengths.
 * Node 20 has no WebSocket client without a flag, and a dependency for the
 * stack probe alone is not worth it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';

/** The fixed GUID every WebSocket server appends to the key (RFC 6455, section 1.3). */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;
/** Largest frame or message accepted; a CDP reply for a stack is a few hundred KiB at most. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;
const LOOPBACK = '127.0.0.1';

/**
 * Writes the opening handshake and reads the response headers. Resolves with
 * any bytes that followed the headers (already the first frames).
 */
export function handshake(socket: net.Socket, port: number, path: string): Promise<Buffer> {
  const key = randomBytes(16).toString('base64');
  const expectedAccept = createHash('sha1').update(key + WS_GUID).digest('base64');
  return new Promise<Buffer>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('error', reject);
      socket.off('close', onClose);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('WebSocket handshake: connection closed'));
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEADER_BYTES) {
          cleanup();
          reject(new Error('WebSocket handshake: response headers too large'));
        }
        return;
      }
      cleanup();
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const status = lines[0] ?? '';
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      if (!/^HTTP\/1\.1 101\b/.test(status)) return reject(new Error(`WebSocket handshake: ${status || 'no status line'}`));
      if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return reject(new Error('WebSocket handshake: no Upgrade: websocket'));
      if (headers.get('sec-websocket-accept') !== expectedAccept) return reject(new Error('WebSocket handshake: bad Sec-WebSocket-Accept'));
      resolve(head.subarray(end + 4));
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.on('close', onClose);
    socket.write(
      `GET ${path} HTTP/1.1\r\n` +
        `Host: ${LOOPBACK}:${port}\r\n` +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

/**
 * Encodes one final (FIN) frame, masked as a client must:
 *   byte 0: FIN | opcode; byte 1: MASK | length (or 126 / 127 then 2 / 8
 *   length bytes); 4 mask bytes; payload XOR mask.
 */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + 4);
  header[0] = 0x80 | opcode;
  if (lenBytes === 0) header[1] = 0x80 | len;
  else if (lenBytes === 2) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(header, 2 + lenBytes);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, body]);
}

interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** Bytes of the buffer this frame used. */
  consumed: number;
}

/**
 * Decodes the first frame of `buf`. Returns the frame; or, when `buf` is
 * incomplete, the number of bytes needed before it can be decoded; or an
 * Error when the frame is invalid.
 */
export function decodeFrame(buf: Buffer): Frame | number | Error {
  if (buf.length < 2) return 2;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  if ((b0 & 0x70) !== 0) return new Error('WebSocket: reserved bits set (no extension was negotiated)');
  if ((b1 & 0x80) !== 0) return new Error('WebSocket: server frames must not be masked');
  let len = b1 & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return 4;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return 10;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_MESSAGE_BYTES)) return new Error('WebSocket: frame too large');
    len = Number(big);
    offset = 10;
  }
  if (len > MAX_MESSAGE_BYTES) return new Error('WebSocket: frame too large');
  if (opcode >= 0x8 && (!fin || len > 125)) return new Error('WebSocket: invalid control frame');
  if (buf.length < offset + len) return offset + len;
  // Copy the payload out so the (possibly large) receive buffer can be freed.
  return { fin, opcode, payload: Buffer.from(buf.subarray(offset, offset + len)), consumed: offset + len };
}
