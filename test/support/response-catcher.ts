import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ResponseCatcher {
  /** Where Slack's response_url would point. */
  url: string;
  /** The JSON bodies posted there, in order. */
  responses: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Where Slack's response_url points in tests: the answers to slash commands arrive here. */
export async function startResponseCatcher(): Promise<ResponseCatcher> {
  const responses: Record<string, unknown>[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      responses.push(JSON.parse(body) as Record<string, unknown>);
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/commands/1`, responses, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
