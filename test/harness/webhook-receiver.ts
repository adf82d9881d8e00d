/**
 * Stands for a person's pager: an HTTP server on a loopback port that records every Alertmanager
 * webhook notification POSTed to it (any path), parsed, with the time it arrived.
 */
import * as http from 'http';
import { AddressInfo } from 'net';

/** Alertmanager's webhook payload (version "4"), the fields the tests read. */
export interface WebhookPayload {
  version: string;
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: Array<{
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    generatorURL: string;
    fingerprint: string;
  }>;
  [k: string]: unknown;
}

export interface ReceivedNotification {
  /** Date.now() when the request body had arrived. */
  readonly receivedAt: number;
  readonly path: string;
  readonly payload: WebhookPayload;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>/alerts: the URL to put in a webhook_config. */
  readonly url: string;
  /** Every notification so far, in arrival order. */
  readonly received: readonly ReceivedNotification[];
  /** Resolves with the first notification (already received or still to come) that matches; rejects after `timeoutMs`. */
  waitFor(predicate: (n: ReceivedNotification) => boolean, timeoutMs?: number): Promise<ReceivedNotification>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedNotification[] = [];
  const waiters = new Set<(n: ReceivedNotification) => void>();
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') { res.writeHead(405).end(); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let payload: WebhookPayload;
      try { payload = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch {
        res.writeHead(400).end('not JSON');
        return;
      }
      const n: ReceivedNotification = { receivedAt: Date.now(), path: req.url ?? '/', payload };
      received.push(n);
      res.writeHead(200).end();
      for (const w of [...waiters]) w(n);
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    waitFor(predicate, timeoutMs = 30_000) {
      const found = received.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = (n: ReceivedNotification) => {
          if (!predicate(n)) return;
          waiters.delete(waiter); clearTimeout(timer); resolve(n);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`webhook: no matching notification within ${timeoutMs} ms; received ${received.length}: `
            + JSON.stringify(received.map((r) => ({ status: r.payload.status, groupLabels: r.payload.groupLabels }))).slice(0, 2000)));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
