/**
 * `createDashboard`: the dashboard as one plain node:http request handler, `(req, res) => void`, that
 * serves the page, its script and style (strings in this package: no build step, nothing from the
 * internet) and a small JSON API the page polls. Mount it anywhere (see README "Dashboard").
 *
 * Safety model:
 * - read-only unless `allowActions` is set, and then only with `token`: an action needs
 *   `Authorization: Bearer <token>` (or basic auth with the token as password), compared in constant time;
 *   without it the answer is 401 and nothing changes. With actions off, action URLs answer 403.
 * - actions are POST with a JSON body; the token travels in a header, never a cookie, so another site cannot
 *   make a browser act (it cannot set the header, and no CORS header lets it read or preflight).
 * - the page inserts every value as text (never as HTML), and a strict Content-Security-Policy forbids
 *   inline and foreign scripts, so a payload cannot run in the page.
 * - every action is logged (logger.info) with what, on what, and who (address, basic-auth user).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedisSource } from '../redis-source.ts';
import { deleteDeadLetter, requeueAllDeadLetters, requeueDeadLetter } from '../dead-letters.ts';
import { InvalidOptionError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { Queue } from '../queue.ts';
import { CLIENT_JS } from './client.ts';
import { FIND_SCAN, overview, publicLetter, QueueData, workers } from './data.ts';
import { FEATURES } from './features.ts';
import { FAVICON_SVG, PAGE_CSS, pageHtml } from './page.ts';
import { runScheduledNow } from './scheduled.ts';
import { checkTaskId } from '../payload.ts';

export interface DashboardOptions {
  /** The queue to show (a Queue, or a name with `redis`). */
  readonly queue?: Queue | string;
  /** Several queues. */
  readonly queues?: readonly (Queue | string)[];
  /** Where Redis is, for queues given by name. */
  readonly redis?: RedisSource;
  /** For queues given by name. @default 'delayed' */
  readonly prefix?: string;
  /** For queues given by name: their partitions. @default 1 */
  readonly partitions?: number;
  /** The path the handler is mounted under when the framework does not strip it (e.g. '/admin/queues'). */
  readonly basePath?: string;
  /** Enable the actions (requeue / delete dead letters); needs `token`. @default false */
  readonly allowActions?: boolean;
  /** The secret actions need (at least 16 characters). */
  readonly token?: string;
  /** Where actions and errors are logged. @default silent */
  readonly logger?: Logger;
}

export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The queues shown, by name. */
  readonly queues: readonly string[];
  /** Closes the queues the dashboard opened itself (those given by name). */
  close(): Promise<void>;
}

const REFRESH_MS = 1000;
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The token in an Authorization header (bearer, or the password of basic auth), and the basic-auth user. */
function presented(header: string | undefined): { token: string; user: string | null } | null {
  if (!header) return null;
  const [scheme, value] = [header.slice(0, header.indexOf(' ')).toLowerCase(), header.slice(header.indexOf(' ') + 1).trim()];
  if (scheme === 'bearer' && value) return { token: value, user: null };
  if (scheme === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) return { token: decoded.slice(colon + 1), user: decoded.slice(0, colon) };
  }
  return null;
}

function normaliseBase(base: string | undefined): string {
  if (base === undefined || base === '' || base === '/') return '';
  if (typeof base !== 'string' || !/^\/[\w./~-]*$/.test(base))
    throw new InvalidOptionError(`Expected \`basePath\` to be a path like '/admin/queues', got \`${JSON.stringify(base)}\``);
  return base.replace(/\/+$/, '');
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), extra);

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new HttpError(415, `Expected Content-Type application/json, got ${JSON.stringify(type)}`);
  // A framework's body parser (express.json(), koa-bodyparser) may have read the body already.
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
    return parsed as Record<string, unknown>;
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 4096) throw new HttpError(413, 'Expected a JSON body of at most 4096 bytes');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8') || '{}';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Expected a JSON body, got text that does not parse');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'Expected a JSON object');
  return body as Record<string, unknown>;
}

function letterRef(body: Record<string, unknown>): { partition: number; index: number; digest: string } {
  const { partition, index, digest } = body;
  if (!Number.isInteger(partition) || (partition as number) < 0)
    throw new HttpError(400, `Expected partition to be an integer from 0, got ${JSON.stringify(partition)}`);
  if (!Number.isInteger(index) || (index as number) < 0)
    throw new HttpError(400, `Expected index to be an integer from 0, got ${JSON.stringify(index)}`);
  if (typeof digest !== 'string' || !/^[\w-]{22}$/.test(digest))
    throw new HttpError(400, `Expected digest to be the 22-character digest of a listed dead letter, got ${JSON.stringify(digest)}`);
  return { partition: partition as number, index: index as number, digest };
}

function scheduledRef(body: Record<string, unknown>): { partition: number; dueAt: number; digest: string } {
  const { partition, dueAt, digest } = body;
  if (!Number.isInteger(partition) || (partition as number) < 0)
    throw new HttpError(400, `Expected partition to be an integer from 0, got ${JSON.stringify(partition)}`);
  if (!Number.isSafeInteger(dueAt) || (dueAt as number) < 0)
    throw new HttpError(400, `Expected dueAt to be a due time in ms, got ${JSON.stringify(dueAt)}`);
  if (typeof digest !== 'string' || !/^[\w-]{22}$/.test(digest))
    throw new HttpError(400, `Expected digest to be the 22-character digest of a listed scheduled task, got ${JSON.stringify(digest)}`);
  return { partition: partition as number, dueAt: dueAt as number, digest };
}

/** `?cursor=o0,o1,…&limit=n&schedulesOffset=k`: a page of scheduled tasks and a page of schedules. */
async function scheduled(url: URL, d: QueueData) {
  const parts = d.queue.partitions.length;
  const raw = url.searchParams.get('cursor');
  const cursor = raw === null || raw === '' ? new Array<number>(parts).fill(0) : raw.split(',').map(Number);
  if (cursor.length !== parts || !cursor.every((n) => Number.isInteger(n) && n >= 0 && n <= 1e9))
    throw new HttpError(400, `Expected cursor to be ${parts} comma-separated offsets (one per partition), got ${JSON.stringify(raw)}`);
  const limit = Number(url.searchParams.get('limit') ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw new HttpError(400, `Expected limit to be an integer from 1 to 100, got ${JSON.stringify(url.searchParams.get('limit'))}`);
  const offset = Number(url.searchParams.get('schedulesOffset') ?? 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 1e9)
    throw new HttpError(
      400,
      `Expected schedulesOffset to be an integer from 0, got ${JSON.stringify(url.searchParams.get('schedulesOffset'))}`,
    );
  const [tasks, schedules] = await Promise.all([d.scheduledPage(cursor, limit), d.schedulePage(offset, limit)]);
  return { name: d.queue.name, tasks, schedules };
}

/** Makes the dashboard's request handler. Throws InvalidOptionError on bad options. */
export function createDashboard(options: DashboardOptions): DashboardHandler {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('Expected dashboard options to be an object');
  const given = [...(options.queue !== undefined ? [options.queue] : []), ...(options.queues ?? [])];
  if (given.length === 0) throw new InvalidOptionError('Expected `queue` or `queues` to name at least one queue, got none');
  const owned: Queue[] = [];
  const queues = given.map((q) => {
    if (q instanceof Queue) return q;
    if (typeof q !== 'string') throw new InvalidOptionError(`Expected each queue to be a Queue or a name, got \`${typeof q}\``);
    const made = new Queue({
      name: q,
      ...(options.redis !== undefined ? { redis: options.redis } : {}),
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
    });
    owned.push(made);
    return made;
  });
  const data = new Map<string, QueueData>();
  for (const q of queues) {
    if (data.has(q.name)) throw new InvalidOptionError(`Expected each queue once, got \`${q.name}\` twice`);
    data.set(q.name, new QueueData(q, REFRESH_MS));
  }
  const allowActions = options.allowActions === true;
  if (options.allowActions !== undefined && typeof options.allowActions !== 'boolean')
    throw new InvalidOptionError(`Expected \`allowActions\` to be a boolean, got \`${typeof options.allowActions}\``);
  const token = options.token;
  if (token !== undefined && (typeof token !== 'string' || token.length < 16))
    throw new InvalidOptionError('Expected `token` to be a string of at least 16 characters, got a shorter one or not a string');
  if (allowActions && token === undefined)
    throw new InvalidOptionError(
      'Expected `token` with `allowActions`: actions are refused to anyone without it (there is no tokenless mode)',
    );
  const tokenDigest = token === undefined ? null : sha256(token);
  const logger = options.logger ?? SILENT;
  const base = normaliseBase(options.basePath);
  const config = JSON.stringify({
    queues: queues.map((q) => ({ name: q.name, partitions: q.partitions.length })),
    allowActions,
    refreshMs: REFRESH_MS,
    findScan: FIND_SCAN,
    features: FEATURES,
  });

  const queueData = (name: string): QueueData => {
    const d = data.get(name);
    if (!d)
      throw new HttpError(404, `Expected one of the dashboard's queues (${[...data.keys()].join(', ')}), got ${JSON.stringify(name)}`);
    return d;
  };

  async function act(req: IncomingMessage, res: ServerResponse, d: QueueData, what: string): Promise<void> {
    if (!allowActions || tokenDigest === null)
      throw new HttpError(403, 'Actions are disabled: start the dashboard with --allow-actions and a token (allowActions and token)');
    const who = { ip: req.socket.remoteAddress ?? null, user: null as string | null };
    const creds = presented(req.headers.authorization);
    if (!creds || !timingSafeEqual(sha256(creds.token), tokenDigest)) {
      logger.warn({ queue: d.queue.name, action: what, ...who }, 'dashboard action refused: no valid token');
      throw new HttpError(401, 'Expected Authorization: Bearer <token> (or basic auth with the token as password)');
    }
    who.user = creds.user;
    const body = await readJson(req);
    let result: Record<string, unknown>;
    if (what === 'requeue-all') {
      result = { ...(await requeueAllDeadLetters(d.queue)) };
    } else if (what === 'pause' || what === 'resume') {
      await (what === 'pause' ? d.queue.pause() : d.queue.resume());
      result = { paused: what === 'pause' };
    } else if (what === 'cancel') {
      const id = body.id;
      checkTaskId(id); // InvalidOptionError: 400
      result = { id, result: await d.queue.cancel(id) };
    } else if (what === 'run-now') {
      if ((await runScheduledNow(d.queue, scheduledRef(body))) === 'gone')
        throw new HttpError(409, 'That task is not scheduled any more (due and promoted, or run now meanwhile): reload the page');
      result = { done: true };
    } else {
      const where = letterRef(body);
      const ref = await d.find(where);
      if (!ref)
        throw new HttpError(409, 'That dead letter is not there any more (requeued or deleted meanwhile, or trimmed): reload the page');
      const done = what === 'requeue' ? await requeueDeadLetter(d.queue, ref) : await deleteDeadLetter(d.queue, ref);
      if (!done) throw new HttpError(409, 'That dead letter was taken by another request a moment ago: reload the page');
      result = { done: true };
    }
    d.invalidate();
    logger.info({ queue: d.queue.name, action: what, ...who, ...result }, `dashboard action: ${what}`);
    json(res, 200, result);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    let path = url.pathname;
    if (base !== '' && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length);
    const method = req.method ?? 'GET';
    if (path === '' || path === '/') {
      // The page's links are relative: it must be served from a path ending in '/'.
      const seen = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/').split('?')[0] as string;
      if (!seen.endsWith('/')) return send(res, 301, 'text/plain; charset=utf-8', 'Moved', { Location: `${seen}/` });
      return send(res, 200, 'text/html; charset=utf-8', pageHtml());
    }
    if (path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', CLIENT_JS);
    if (path === '/app.css') return send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
    if (path === '/favicon.svg') return send(res, 200, 'image/svg+xml', FAVICON_SVG);
    if (!path.startsWith('/api/')) throw new HttpError(404, `No page at ${path}`);
    const parts = path
      .slice(5)
      .split('/')
      .map((p) => {
        try {
          return decodeURIComponent(p);
        } catch {
          throw new HttpError(400, `Expected a URL-encoded path, got ${JSON.stringify(p.slice(0, 100))}`);
        }
      });
    if (method === 'POST') {
      if (
        parts[0] === 'queues' &&
        parts.length === 4 &&
        parts[2] === 'dead' &&
        ['requeue', 'delete', 'requeue-all'].includes(parts[3] as string)
      ) {
        return await act(req, res, queueData(parts[1] as string), parts[3] as string);
      }
      if (parts[0] === 'queues' && parts.length === 4 && parts[2] === 'scheduled' && parts[3] === 'run-now')
        return await act(req, res, queueData(parts[1] as string), 'run-now');
      if (parts[0] === 'queues' && parts.length === 3 && (parts[2] === 'pause' || parts[2] === 'resume' || parts[2] === 'cancel'))
        return await act(req, res, queueData(parts[1] as string), parts[2]);
      throw new HttpError(404, `No action at ${path}`);
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `Expected GET (or POST for actions), got ${method}`);
    if (parts[0] === 'config' && parts.length === 1) return send(res, 200, 'application/json; charset=utf-8', config);
    if (parts[0] === 'queues' && parts.length === 1) {
      const all = [...data.values()];
      const statuses = await Promise.all(all.map((d) => d.status()));
      return json(res, 200, { queues: statuses.map((s, i) => overview(all[i] as QueueData, s)) });
    }
    if (parts[0] !== 'queues' || parts.length < 3) throw new HttpError(404, `No API at ${path}`);
    const d = queueData(parts[1] as string);
    if (parts[2] === 'workers' && parts.length === 3) return json(res, 200, workers(await d.status()));
    if (parts[2] === 'dead' && parts.length === 3) {
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 50);
      if (!Number.isInteger(offset) || offset < 0 || offset > 1e9)
        throw new HttpError(400, `Expected offset to be an integer from 0, got ${JSON.stringify(url.searchParams.get('offset'))}`);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw new HttpError(400, `Expected limit to be an integer from 1 to 100, got ${JSON.stringify(url.searchParams.get('limit'))}`);
      const page = await d.deadPage(offset, limit);
      return json(res, 200, { total: page.total, offset: page.offset, letters: page.letters.map(publicLetter) });
    }
    if (parts[2] === 'scheduled' && parts.length === 3) return json(res, 200, await scheduled(url, d));
    if (parts[2] === 'tasks' && parts.length === 4 && parts[3])
      return json(res, 200, await d.lookup(parts[3], url.searchParams.get('cursor') ?? undefined));
    throw new HttpError(404, `No API at ${path}`);
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpError) {
        const extra: Record<string, string> = err.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="delayed dashboard"' } : {};
        return json(res, err.status, { error: err.message }, extra);
      }
      if (err instanceof InvalidOptionError) return json(res, 400, { error: err.message });
      logger.warn({ err, url: req.url }, 'dashboard request failed');
      json(res, 503, { error: `Cannot read from Redis now: ${(err as Error)?.message ?? String(err)}` });
    });
  }) as DashboardHandler;
  Object.defineProperty(handler, 'queues', { value: queues.map((q) => q.name), enumerable: true });
  Object.defineProperty(handler, 'close', { value: async () => void (await Promise.all(owned.map((q) => q.close()))) });
  return handler;
}
