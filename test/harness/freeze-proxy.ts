/**
 * A TCP proxy on loopback that can freeze: stop forwarding in both directions
 * without closing anything, as a dead apiserver behind a load balancer or a
 * dropped conntrack entry does. Frozen connections accept bytes and deliver
 * none; connections opened while frozen are accepted and never reach the
 * target (TLS handshakes hang). `thaw` resets the frozen connections (the
 * state that carried them is gone) and forwards new ones again. TLS passes
 * through untouched, so a kubeconfig only needs the proxy's port.
 */
import * as net from 'net';

export interface FreezeProxy {
  readonly port: number;
  readonly frozen: boolean;
  freeze(): void;
  thaw(): void;
  /** Bytes forwarded from clients to the target so far. */
  readonly forwardedUp: number;
  close(): Promise<void>;
}

interface Pair { readonly client: net.Socket; upstream?: net.Socket; frozen: boolean }

export async function startFreezeProxy(target: { readonly host: string; readonly port: number }, opts: { readonly frozen?: boolean } = {}): Promise<FreezeProxy> {
  let frozen = opts.frozen ?? false;
  let forwardedUp = 0;
  const pairs = new Set<Pair>();
  const server = net.createServer((client) => {
    const pair: Pair = { client, frozen };
    pairs.add(pair);
    const drop = () => { client.destroy(); pair.upstream?.destroy(); pairs.delete(pair); };
    client.on('error', drop);
    client.on('close', () => { if (!pair.frozen) drop(); });
    // Frozen: what arrives is swallowed; nothing is closed, nothing sent back.
    client.on('data', (d) => { if (!pair.frozen && pair.upstream) { forwardedUp += d.length; pair.upstream.write(d); } });
    if (pair.frozen) return;
    client.pause();
    const upstream = net.connect(target.port, target.host, () => client.resume());
    pair.upstream = upstream;
    upstream.on('data', (d) => { if (!pair.frozen) client.write(d); });
    upstream.on('error', () => { if (!pair.frozen) drop(); });
    upstream.on('close', () => { if (!pair.frozen) drop(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    get frozen() { return frozen; },
    get forwardedUp() { return forwardedUp; },
    freeze() {
      frozen = true;
      for (const p of pairs) p.frozen = true;
    },
    thaw() {
      frozen = false;
      for (const p of [...pairs]) {
        if (!p.frozen) continue;
        p.client.destroy();
        p.upstream?.destroy();
        pairs.delete(p);
      }
    },
    async close() {
      for (const p of pairs) { p.client.destroy(); p.upstream?.destroy(); }
      pairs.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
