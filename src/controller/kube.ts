/**
 * A small Kubernetes REST client on a KubeConnection (TLS and credentials,
 * see connection.ts): server-side apply with one field manager, list, get, delete, status
 * patches and watches. It counts the requests it sends by verb, so tests and
 * metrics can prove that a converged controller writes nothing.
 */
import * as https from 'https';
import * as http from 'http';
import { KubeConnection, loadConnection } from './connection';
import { ListItemSplitter } from './list-stream';
import { ResourceKind, kindOf, resourcePath } from './resources';

export const FIELD_MANAGER = 'inference-monitoring-controller';

export class KubeApiError extends Error {
  constructor(public readonly status: number, public readonly reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** A request that got no answer in time (see RequestOptions.timeoutMs). */
export class KubeTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'KubeTimeoutError';
  }
}

/** A write refused before it was sent, because this replica does not hold the Lease (see KubeApi.fence). */
export class FencedError extends Error {
  constructor(what: string) {
    super(`${what}: not sent, this replica is not the leader`);
    this.name = 'FencedError';
  }
}

/**
 * Default deadline of a request: for its response headers, and then for each
 * pause in its body. A frozen connection (a dead apiserver behind a load
 * balancer, a lost conntrack entry) neither answers nor closes: without a
 * deadline the request, and whatever awaits it, waits forever (issue #26).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Deadline for the response headers, then for any silence in the body. @default REQUEST_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** Sent even when the fence is down: the Lease requests by which a replica becomes leader. */
  readonly unfenced?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: any[]; finalizers?: string[]; deletionTimestamp?: string; managedFields?: any[]; [k: string]: unknown };
  [key: string]: any;
}

/** Requests sent: writes (POST/PUT/PATCH/DELETE), reads (get and list) and watches opened, and each by verb. */
export interface RequestCounts { reads: number; writes: number; watches: number; byVerb: Record<string, number> }

/**
 * The RBAC verb and resource the apiserver authorizes a request as, e.g.
 * `patch monitoring.inference.dev/inferencemonitorings/status`. A server-side
 * apply that created its object (201) is authorized as `create`.
 */
export function authorizedAs(method: string, pathAndQuery: string, status?: number): string {
  const [p, q = ''] = pathAndQuery.split('?');
  const seg = p.split('/').filter(Boolean);
  const group = seg[0] === 'api' ? '' : seg[1];
  let rest = seg.slice(seg[0] === 'api' ? 2 : 3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [plural, name, sub] = rest;
  const resource = `${group}/${plural}${sub ? `/${sub}` : ''}`;
  const verb = method === 'GET' ? (new URLSearchParams(q).get('watch') ? 'watch' : name ? 'get' : 'list')
    : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete'
      : status === 201 ? 'create' : 'patch';
  return `${verb} ${resource}`;
}

export class KubeApi {
  public readonly counts: RequestCounts = { reads: 0, writes: 0, watches: 0, byVerb: {} };
  /** Every `verb group/resource` this client was authorized for (see authorizedAs), with counts: the RBAC audit reads it. */
  public readonly authorized = new Map<string, number>();
  /** Called with every response's Kubernetes verb and HTTP status ('error' when none came): the controller's metrics. */
  public readonly onResponse: Array<(verb: string, code: number | 'error') => void> = [];
  /**
   * Writes are sent only while this returns true (leader election sets it to
   * "holds the Lease now", by the local clock); others throw FencedError unsent.
   */
  public fence?: () => boolean;
  private readonly server: string;
  /** Requests in flight, so losing the Lease can abort the writes and a shutdown everything. */
  private readonly inflight = new Set<{ readonly req: http.ClientRequest; readonly fenced: boolean }>();

  /** @param kc where and how to connect: loadConnection(), or a client-node KubeConfig */
  constructor(private readonly kc: KubeConnection) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/$/, '');
  }

  /** The connection kubectl would use (see loadConnection). */
  static fromKubeconfig(file?: string): KubeApi {
    return new KubeApi(loadConnection(file));
  }

  /** One HTTP request; JSON in and out. Throws KubeApiError on a non-2xx status. */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json', opts: RequestOptions = {}): Promise<any> {
    const res = await this.raw(method, path, body, contentType, opts);
    const text = await readAll(res);
    const parsed = text ? safeJson(text) : undefined;
    if ((res.statusCode ?? 0) >= 300) {
      throw new KubeApiError(res.statusCode ?? 0, parsed?.reason ?? 'Unknown', parsed?.message ?? `${method} ${path}: HTTP ${res.statusCode}`);
    }
    return parsed;
  }

  private recordAuthorized(method: string, path: string, status?: number): void {
    if (status === 401 || status === 403) return;
    const k = authorizedAs(method, path, status);
    this.authorized.set(k, (this.authorized.get(k) ?? 0) + 1);
  }

  /**
   * Opens a request and returns the response stream (for watches). Its
   * deadline (opts.timeoutMs) runs to the response headers, then restarts with
   * every byte: a silent body is cut off with KubeTimeoutError as well.
   */
  async raw(method: string, path: string, body?: unknown, contentType = 'application/json', opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const verb = method === 'GET' ? (path.includes('watch=') ? 'WATCH' : 'GET') : method;
    const isWrite = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) && !path.includes('dryRun=');
    const fenced = isWrite && !opts.unfenced;
    const url = new URL(this.server + path);
    const reqOpts: https.RequestOptions = { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: { Accept: 'application/json' }, signal: opts.signal };
    await this.kc.applyToHTTPSOptions(reqOpts);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload) reqOpts.headers = { ...reqOpts.headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) };
    const lib = url.protocol === 'http:' ? http : https;
    // Checked at the last moment before sending, after every await: a replica that lost the Lease meanwhile sends nothing.
    if (fenced && this.fence && !this.fence()) throw new FencedError(`${method} ${url.pathname}`);
    this.counts.byVerb[verb] = (this.counts.byVerb[verb] ?? 0) + 1;
    if (isWrite) this.counts.writes++;
    else if (verb === 'WATCH') this.counts.watches++;
    else this.counts.reads++;
    const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      let answered: http.IncomingMessage | undefined;
      const req = lib.request(reqOpts, (res) => {
        answered = res;
        clearTimeout(headersTimer);
        this.recordAuthorized(method, path, res.statusCode);
        const verbOf = authorizedAs(method, path, res.statusCode).split(' ')[0];
        for (const f of this.onResponse) f(verbOf, res.statusCode ?? 0);
        res.once('close', () => this.inflight.delete(entry));
        resolve(res);
      });
      const entry = { req, fenced };
      this.inflight.add(entry);
      // Once answered, the response carries the error to whoever reads it.
      const timedOut = () => (answered ?? req).destroy(new KubeTimeoutError(`${method} ${url.pathname}`, timeoutMs));
      // Connection, TLS handshake and headers; after that the socket's own inactivity timer (below) covers the body.
      const headersTimer = setTimeout(timedOut, timeoutMs);
      req.setTimeout(timeoutMs, timedOut);
      req.on('error', (e) => {
        clearTimeout(headersTimer);
        this.inflight.delete(entry);
        // A watch aborted after its response is not a failed request.
        if (!answered) for (const f of this.onResponse) f(authorizedAs(method, path).split(' ')[0], 'error');
        reject(e);
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Aborts the writes in flight (the Lease was lost: none may land later); `all`: every request (shutdown). */
  abortInflight(all = false): number {
    let n = 0;
    for (const e of [...this.inflight]) {
      if (!all && !e.fenced) continue;
      e.req.destroy(all ? new Error('controller stopping') : new FencedError(`${e.req.method} ${e.req.path.split('?')[0]}`));
      this.inflight.delete(e);
      n++;
    }
    return n;
  }

  /** Server-side apply of a whole object with the controller's field manager (force: it owns these fields). */
  apply(obj: KubeObject): Promise<KubeObject> {
    const k = kindOf(obj.apiVersion, obj.kind);
    return this.request('PATCH', `${resourcePath(k, obj.metadata.namespace, obj.metadata.name)}?fieldManager=${FIELD_MANAGER}&force=true`, obj, 'application/apply-patch+yaml');
  }

  /** Server-side apply of the status subresource. */
  applyStatus(k: ResourceKind, namespace: string, name: string, status: unknown): Promise<KubeObject> {
    return this.request('PATCH', `${resourcePath(k, namespace, name)}/status?fieldManager=${FIELD_MANAGER}&force=true`,
      { apiVersion: k.apiVersion, kind: k.kind, metadata: { name, namespace }, status }, 'application/apply-patch+yaml');
  }

  /**
   * Lists in pages of `limit` (the apiserver's `limit`/`continue`, one consistent snapshot), handing each
   * object to `onItem` as soon as it is parsed (see ListItemSplitter): a caller that keeps less than the
   * objects (the informers' summaries and stubs) then never holds more than one, where one page of 100
   * large ConfigMaps is a response of 100 MiB. `page` counts from 1. Resolves with the snapshot's resourceVersion.
   */
  async listPaged(k: ResourceKind, namespace: string | undefined, labelSelector: string | undefined, limit: number, onItem: (item: KubeObject, page: number) => void): Promise<string> {
    let token = '';
    for (let page = 1; ; page++) {
      const q = new URLSearchParams({ limit: String(limit) });
      if (labelSelector) q.set('labelSelector', labelSelector);
      if (token) q.set('continue', token);
      const path = `${resourcePath(k, namespace)}?${q}`;
      const res = await this.raw('GET', path);
      if ((res.statusCode ?? 0) >= 300) {
        const parsed = safeJson(await readAll(res));
        throw new KubeApiError(res.statusCode ?? 0, parsed?.reason ?? 'Unknown', parsed?.message ?? `GET ${path}: HTTP ${res.statusCode}`);
      }
      const splitter = new ListItemSplitter((i) => onItem({ ...(i as KubeObject), apiVersion: k.apiVersion, kind: k.kind }, page));
      await new Promise<void>((resolve, reject) => {
        res.on('data', (c: Buffer) => { try { splitter.push(c); } catch (e) { res.destroy(); reject(e); } });
        res.on('end', () => resolve());
        res.on('error', reject);
        res.on('close', () => { if (!res.complete) reject(new Error(`GET ${path}: response cut off`)); });
      });
      const envelope = splitter.end();
      token = envelope.metadata?.continue ?? '';
      if (!token) return envelope.metadata?.resourceVersion ?? '';
    }
  }

  async list(k: ResourceKind, namespace?: string, labelSelector?: string): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const res = await this.request('GET', `${resourcePath(k, namespace)}${q}`);
    return { items: (res.items ?? []).map((i: KubeObject) => ({ ...i, apiVersion: k.apiVersion, kind: k.kind })), resourceVersion: res.metadata?.resourceVersion ?? '' };
  }

  /** One object, or undefined when it does not exist. `fromCache`: served from the apiserver's watch cache (`resourceVersion=0`), no etcd read. */
  async get(k: ResourceKind, namespace: string, name: string, opts: { fromCache?: boolean } = {}): Promise<KubeObject | undefined> {
    try {
      return await this.request('GET', `${resourcePath(k, namespace, name)}${opts.fromCache ? '?resourceVersion=0' : ''}`);
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async delete(obj: KubeObject): Promise<void> {
    const k = kindOf(obj.apiVersion, obj.kind);
    try {
      await this.request('DELETE', resourcePath(k, obj.metadata.namespace, obj.metadata.name), { propagationPolicy: 'Background' });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
    }
  }

  /** JSON merge patch of metadata (finalizers), guarded by the resourceVersion read. */
  mergePatch(k: ResourceKind, namespace: string, name: string, patch: unknown): Promise<KubeObject> {
    return this.request('PATCH', `${resourcePath(k, namespace, name)}?fieldManager=${FIELD_MANAGER}`, patch, 'application/merge-patch+json');
  }

  /** Records a Kubernetes Event on an object. */
  async event(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = regarding.metadata.namespace ?? 'default';
    const now = new Date().toISOString();
    await this.request('POST', `/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1', kind: 'Event',
      metadata: { generateName: `${regarding.metadata.name}.`, namespace: ns },
      involvedObject: { apiVersion: regarding.apiVersion, kind: regarding.kind, name: regarding.metadata.name, namespace: ns, uid: regarding.metadata.uid },
      reason, message: message.slice(0, 1024), type,
      firstTimestamp: now, lastTimestamp: now, count: 1,
      source: { component: FIELD_MANAGER },
    });
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    // Destroyed by a deadline or an abort: 'close' without 'end'.
    res.on('close', () => { if (!res.complete) reject(new Error('response cut off')); });
  });
}

function safeJson(text: string): any {
  try { return JSON.parse(text); } catch { return { message: text }; }
}
