/** Serves fixed `/metrics` text on a loopback port, as an engine (or one of its ranks) would. */
import * as http from 'http';
import { freePort } from './control-plane';

export interface MetricsServer { readonly port: number; readonly address: string; scrapes: number; close(): Promise<void> }

export async function serveMetrics(text: string, port?: number): Promise<MetricsServer> {
  const p = port ?? await freePort();
  const state = { scrapes: 0 };
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/metrics')) {
      state.scrapes++;
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    } else if (req.url === '/health') {
      res.writeHead(200); res.end('ok');
    } else {
      res.writeHead(404); res.end();
    }
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(p, '127.0.0.1', () => resolve()); });
  return {
    port: p,
    address: `127.0.0.1:${p}`,
    get scrapes() { return state.scrapes; },
    set scrapes(v: number) { state.scrapes = v; },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
