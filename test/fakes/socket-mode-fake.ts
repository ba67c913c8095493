import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { closeServer, listenOnLoopback } from './http-fake-server.ts';

/**
 * A local stand-in for Slack's Socket Mode: apps.connections.open (`open`, wired into the Web
 * API fake with its `appsConnectionsOpen` option) hands out one-time ws:// URLs, and a WebSocket
 * server on loopback speaks the protocol: `hello` on connect, envelopes out, acks
 * (`{ envelope_id, payload }`) back, and `disconnect` to make the client reconnect.
 *
 * The WebSocket side is a small RFC 6455 server written here (handshake, framing, ping/pong,
 * close handshake): @slack/socket-mode connects with undici's WebSocket client and does not
 * bring the `ws` package along, and adding a dependency for a fake is not worth it.
 */

export type EnvelopeType = 'events_api' | 'interactive' | 'slash_commands';

export interface Envelope {
  type: EnvelopeType;
  payload: Record<string, unknown>;
  /** Default: a fresh UUID. */
  envelope_id?: string;
  /** Default: true for slash commands and view submissions, false otherwise (as Slack sends them). */
  accepts_response_payload?: boolean;
  /** Events API redeliveries: 1, 2, 3… (default 0). */
  retry_attempt?: number;
  /** Why it was redelivered, e.g. `timeout` (default ''). */
  retry_reason?: string;
}

export interface SocketModeAck {
  envelope_id: string;
  payload?: unknown;
}

export type DisconnectReason = 'refresh_requested' | 'warning' | 'link_disabled';

export interface SocketModeFake {
  /** The WebSocket server's base URL; `open` hands out this URL with a one-time ticket. */
  url: string;
  /** The answer to apps.connections.open called with `token`: a fresh ws:// URL for the app token, Slack's error otherwise. */
  open(token: string | null): Record<string, unknown>;
  /** URLs handed out by `open` so far. */
  readonly opened: number;
  /** WebSocket connections accepted (and greeted with hello) so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Every ack the client sent, by envelope_id, in order (a second ack of one envelope is kept too). */
  acks: Map<string, SocketModeAck[]>;
  /** Send an envelope on the newest open connection; resolves with the client's ack. */
  send(envelope: Envelope, timeoutMs?: number): Promise<SocketModeAck>;
  /** Ask the client to reconnect (as Slack does before recycling a server); resolves when that connection has closed. */
  disconnect(reason?: DisconnectReason, timeoutMs?: number): Promise<void>;
  /** Resolves when `count` connections have been accepted and the newest is open. */
  waitForConnection(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

interface Connection {
  id: number;
  socket: Duplex;
  open: boolean;
  closeSent: boolean;
  closed: Promise<void>;
  /** Text messages the client sent on this connection. */
  received: unknown[];
}

export async function startSocketModeFake(options: { appToken: string; appId?: string }): Promise<SocketModeFake> {
  const tickets = new Set<string>();
  const live: Connection[] = [];
  const acks = new Map<string, SocketModeAck[]>();
  const ackWaiters = new Map<string, (ack: SocketModeAck) => void>();
  const changeWaiters: (() => void)[] = [];
  const changed = () => {
    for (const wake of changeWaiters.splice(0)) wake();
  };
  let opened = 0;
  let accepted = 0;

  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('WebSocket only');
  });

  server.on('upgrade', (req, socket, head) => {
    const key = req.headers['sec-websocket-key'];
    const ticket = new URL(req.url ?? '/', 'ws://fake').searchParams.get('ticket') ?? '';
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    // Like Slack: a URL from apps.connections.open is good for one connection.
    if (!tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    // No extensions (permessage-deflate) are agreed: every frame is plain.
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`, '', ''].join('\r\n'));
    let resolveClosed: () => void = () => undefined;
    const connection: Connection = { id: ++accepted, socket, open: true, closeSent: false, closed: new Promise((resolve) => (resolveClosed = resolve)), received: [] };
    live.push(connection);
    const finish = () => {
      if (!connection.open) return;
      connection.open = false;
      live.splice(live.indexOf(connection), 1);
      resolveClosed();
      changed();
    };
    socket.on('close', finish);
    socket.on('error', finish);

    let buffer: Buffer = Buffer.alloc(0);
    let fragments: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const frame = readFrame(buffer);
        if (!frame) return;
        buffer = buffer.subarray(frame.length);
        switch (frame.opcode) {
          case OP_PING:
            socket.write(encodeFrame(OP_PONG, frame.payload));
            break;
          case OP_PONG:
            break;
          case OP_CLOSE:
            // Answer the client's close (echoing its code), or this was the answer to ours.
            if (!connection.closeSent) {
              connection.closeSent = true;
              socket.write(encodeFrame(OP_CLOSE, frame.payload.subarray(0, 2)));
            }
            socket.end();
            finish();
            return;
          case OP_TEXT:
          case OP_BINARY:
          case OP_CONTINUATION:
            fragments.push(frame.payload);
            if (frame.fin) {
              const text = Buffer.concat(fragments).toString('utf8');
              fragments = [];
              onMessage(connection, text);
            }
            break;
          default:
            socket.destroy();
            return;
        }
      }
    };
    socket.on('data', onData);
    if (head.length > 0) onData(head);

    sendJson(connection, {
      type: 'hello',
      num_connections: live.length,
      debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
      connection_info: { app_id: options.appId ?? 'A000FAKE' },
    });
    changed();
  });

  function onMessage(connection: Connection, text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = text;
    }
    connection.received.push(message);
    if (typeof message !== 'object' || message === null) return;
    const { envelope_id: id } = message as { envelope_id?: unknown };
    if (typeof id !== 'string') return;
    const ack = message as SocketModeAck;
    acks.set(id, [...(acks.get(id) ?? []), ack]);
    const waiter = ackWaiters.get(id);
    ackWaiters.delete(id);
    waiter?.(ack);
  }

  function sendJson(connection: Connection, message: unknown): void {
    connection.socket.write(encodeFrame(OP_TEXT, Buffer.from(JSON.stringify(message), 'utf8')));
  }

  async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`Socket Mode fake: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        changeWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  const base = (await listenOnLoopback(server)).replace(/^http:/, 'ws:');
  const url = `${base}/link/`;

  return {
    url,
    open(token) {
      if (token !== options.appToken) return { ok: false, error: token?.startsWith('xoxb-') ? 'not_allowed_token_type' : 'invalid_auth' };
      opened += 1;
      const ticket = randomUUID();
      tickets.add(ticket);
      return { ok: true, url: `${url}?ticket=${ticket}&app_id=${options.appId ?? 'A000FAKE'}` };
    },
    get opened() {
      return opened;
    },
    get connections() {
      return accepted;
    },
    get openConnections() {
      return live.length;
    },
    acks,
    send(envelope, timeoutMs = 5000) {
      const connection = live.at(-1);
      if (!connection) return Promise.reject(new Error('Socket Mode fake: no open connection to send on'));
      const id = envelope.envelope_id ?? randomUUID();
      const payloadType = envelope.payload.type;
      const message = {
        envelope_id: id,
        type: envelope.type,
        payload: envelope.payload,
        accepts_response_payload: envelope.accepts_response_payload ?? (envelope.type === 'slash_commands' || payloadType === 'view_submission' || payloadType === 'block_suggestion'),
        ...(envelope.type === 'events_api' ? { retry_attempt: envelope.retry_attempt ?? 0, retry_reason: envelope.retry_reason ?? '' } : {}),
      };
      return new Promise<SocketModeAck>((resolve, reject) => {
        const timer = setTimeout(() => {
          ackWaiters.delete(id);
          reject(new Error(`Socket Mode fake: no ack for envelope ${id} (${envelope.type}) within ${timeoutMs} ms`));
        }, timeoutMs);
        ackWaiters.set(id, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
        sendJson(connection, message);
      });
    },
    async disconnect(reason = 'refresh_requested', timeoutMs = 5000) {
      const connection = live.at(-1);
      if (!connection) throw new Error('Socket Mode fake: no open connection to disconnect');
      sendJson(connection, { type: 'disconnect', reason, debug_info: { host: 'applink-fake' } });
      // The client closes; if it does not, Slack drops the connection itself soon after.
      const timer = setTimeout(() => connection.socket.destroy(), timeoutMs);
      await connection.closed;
      clearTimeout(timer);
    },
    waitForConnection(count, timeoutMs = 15_000) {
      return until(`connection #${count}`, () => accepted >= count && live.some((connection) => connection.id === count), timeoutMs);
    },
    async close() {
      for (const connection of [...live]) {
        if (!connection.closeSent) {
          connection.closeSent = true;
          connection.socket.write(encodeFrame(OP_CLOSE, Buffer.from([0x03, 0xe9]))); // 1001 going away
        }
        connection.socket.destroy();
      }
      await closeServer(server);
    },
  };
}

/** One complete frame at the start of `buffer` (unmasked), or null when more bytes are needed. */
function readFrame(buffer: Buffer): { fin: boolean; opcode: number; payload: Buffer; length: number } | null {
  if (buffer.length < 2) return null;
  const first = buffer.readUInt8(0);
  const second = buffer.readUInt8(1);
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buffer.length < offset + length) return null;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (masked) {
    for (let index = 0; index < payload.length; index += 1) payload[index] = (payload[index] ?? 0) ^ (buffer[maskOffset + (index % 4)] ?? 0);
  }
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload, length: offset + length };
}

/** A server frame: final, unmasked. */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length < 65_536) {
    header = Buffer.alloc(4);
    header.writeUInt8(0x80 | opcode, 0);
    header.writeUInt8(126, 1);
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header.writeUInt8(0x80 | opcode, 0);
    header.writeUInt8(127, 1);
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}
