/**
 * The informer against a server that ends every watch at once, without an
 * error: it must not reopen watches in a tight loop (a CI run once opened
 * 31,807 in three minutes and never delivered the resource), and it lists
 * again after a few such ends.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { Informer } from '../src/controller/informer';
import { KubeApi } from '../src/controller/kube';
import { kindOf } from '../src/controller/resources';

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
