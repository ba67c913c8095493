import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Plumbing shared by the HTTP fakes: loopback listen, body reading, and a close that does not wait on keep-alive. */

export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function closeServer(server: Server): Promise<void> {
  // SDK clients keep connections alive; without this, close() waits for them to time out.
  server.closeAllConnections();
  return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}
