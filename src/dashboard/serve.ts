/**
 * `serveDashboard`: the dashboard on its own HTTP server (what `delayed dashboard` runs). Binds 127.0.0.1
 * unless told otherwise: the dashboard shows task arguments and error messages to whoever reaches the port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboard, type DashboardHandler, type DashboardOptions } from './handler.ts';

export interface ServeOptions extends DashboardOptions {
  /** @default 9465 (0: any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

export interface RunningDashboard {
  /** Where it listens, e.g. http://127.0.0.1:9465/ */
  readonly url: string;
  readonly server: Server;
  readonly handler: DashboardHandler;
  close(): Promise<void>;
}

export async function serveDashboard(options: ServeOptions): Promise<RunningDashboard> {
  const handler = createDashboard(options);
  const server = createServer(handler);
  // Keep-alive sockets of open browser tabs must not hold close() up.
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 9465, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    server,
    handler,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await handler.close();
    },
  };
}
