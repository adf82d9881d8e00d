/**
 * The informer and the client's deadlines against small local servers:
 * - a server that ends every watch at once, without an error: the informer
 *   must not reopen watches in a tight loop (a CI run once opened 31,807 in
 *   three minutes and never delivered the resource), and lists again after a
 *   few such ends;
 * - a watch that answers and then falls silent (a frozen connection): cut
 *   off after its idle deadline and the kind listed again (issue #26);
 * - a listener that accepts and never answers: a request fails with
 *   KubeTimeoutError at its deadline instead of waiting forever.
 */
import * as http from 'http';
import * as net from 'net';
import { AddressInfo } from 'net';
import { Informer } from '../../src/controller/informer';
import { KubeApi, KubeTimeoutError } from '../../src/controller/kube';
import { kindOf } from '../../src/controller/resources';

test('watches that the server ends at once are reopened with back-off, and the informer lists again', async () => {
  const seen = { lists: 0, watches: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (url.searchParams.get('watch')) { seen.watches++; res.end(); return; }
    seen.lists++;
    res.end(JSON.stringify({ items: [{ metadata: { name: 'a', namespace: 'x', resourceVersion: '5' } }], metadata: { resourceVersion: '5' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const api = new KubeApi({ getCurrentCluster: () => ({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }), applyToHTTPSOptions: async () => undefined });
  const informer = new Informer(api, kindOf('v1', 'ConfigMap'), { namespace: 'x', onEvent: () => undefined });
  informer.start();
  try {
    await new Promise((r) => setTimeout(r, 2500));
    // Back-off 250, 500, 1000 ms: a handful of watches, not thousands.
    expect(seen.watches).toBeGreaterThanOrEqual(2);
    expect(seen.watches).toBeLessThanOrEqual(6);
    expect(informer.quickEnds).toBe(seen.watches);
    // After three quick ends in a row it lists again.
    expect(seen.lists).toBeGreaterThanOrEqual(2);
    expect(informer.cache.size).toBe(1);
  } finally {
    informer.stop();
    server.close();
  }
});

test('a watch that falls silent is cut off at its idle deadline and the kind is listed again', async () => {
  const seen = { lists: 0, watches: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    // Headers and one event, then nothing, and the connection stays open.
    if (url.searchParams.get('watch')) { seen.watches++; res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '6' } } })}\n`); return; }
    seen.lists++;
    res.end(JSON.stringify({ items: [{ metadata: { name: 'a', namespace: 'x', resourceVersion: '5' } }], metadata: { resourceVersion: '5' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const api = new KubeApi({ getCurrentCluster: () => ({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }), applyToHTTPSOptions: async () => undefined });
  const informer = new Informer(api, kindOf('v1', 'ConfigMap'), { namespace: 'x', onEvent: () => undefined, idleMs: 400 });
  informer.start();
  try {
    await new Promise((r) => setTimeout(r, 2000));
    expect(informer.silentWatches).toBeGreaterThanOrEqual(2);
    expect(seen.lists).toBeGreaterThanOrEqual(3);
    expect(informer.stalledMs()).toBeLessThan(1500);
  } finally {
    informer.stop();
    server.closeAllConnections();
    server.close();
  }
});

test('a request to a listener that accepts and never answers fails at its deadline', async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => { sockets.push(s); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const api = new KubeApi({ getCurrentCluster: () => ({ server: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }), applyToHTTPSOptions: async () => undefined });
  const started = performance.now();
  try {
    await expect(api.request('GET', '/api/v1/namespaces', undefined, undefined, { timeoutMs: 300 })).rejects.toBeInstanceOf(KubeTimeoutError);
    expect(performance.now() - started).toBeLessThan(1000);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
