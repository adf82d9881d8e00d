/**
 * Capacity of the controller's install: how many InferenceMonitoring resources
 * it holds within its memory limit, and what a restart with many existing
 * resources costs.
 *
 * The controller runs as its own process (the CLI, with the install's V8 flags
 * and environment) inside a memory cgroup with the install's limit, as the
 * kubelet runs it, against a real etcd and kube-apiserver. Resources are added
 * `--step` at a time; after each step the run waits until every resource has
 * all its objects applied (Degraded=False, Reconciled, at its generation),
 * then for two resync periods, and records the memory. It stops when the
 * kernel OOM-kills the controller or at `--max`. No kube-controller-manager or
 * nodes run: Deployments are applied and never roll out, so each step takes
 * minutes instead of the cluster's pace (bench/controller.ts measures
 * convergence), and the controller keeps every child in its caches as it does
 * in a cluster.
 *
 * After each step (or only at `--restart-at N`) the controller is stopped and
 * started again, as a rollout or a node drain does: the peak RSS of the new
 * process and the time to its first complete pass (every resource reconciled
 * once). A restart lists every child at once, so it is where memory peaks;
 * the capacity is the largest N at which both the steady state and a restart
 * stay within the limit.
 *
 *   npm run bench:capacity [-- --step 250 --max 3000 --restart-at each --limit 256Mi --workers 4 --resync 10]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CONTROLLER_MEMORY } from '../src/install/controller-install';
import { loadConnection } from '../src/controller/connection';
import { KubeApi, KubeObject } from '../src/controller/kube';
import { INFERENCE_MONITORING, resourcePath } from '../src/controller/resources';
import { CONTROLLER_METRICS } from '../src/controller/metrics';
import { inferenceMonitoringCrd } from '../src/api/crd';
import { quantityValue } from '../src/api/quantity';
import { ensureNamespace, installCrd, startControlPlane } from '../test/harness/control-plane';
import { memoryCgroup } from '../test/harness/memory-cgroup';
import { metric, pool, rss, RunningController, sleep, spec, startController, watchUntil, within } from './common';

/** Every object applied at the resource's generation (readiness needs a rollout, which nothing runs here). */
const applied = (o: KubeObject) => {
  const degraded = o.status?.conditions?.find((c: any) => c.type === 'Degraded');
  return degraded?.status === 'False' && degraded.reason === 'Reconciled' && degraded.observedGeneration === o.metadata.generation;
};

/** Resources the controller has reconciled at least once since it started (its per-resource counter's series). */
async function reconciledResources(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${CONTROLLER_METRICS.resourceReconciles}{`)) continue;
    const name = /resource_name="([^"]*)"/.exec(line)?.[1];
    if (name) names.add(name);
  }
  return names.size;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
  const step = Number(opt('step', '250'));
  const max = Number(opt('max', '3000'));
  const restartAt = opt('restart-at', 'each');
  const limit = opt('limit', CONTROLLER_MEMORY.limit);
  const workers = Number(opt('workers', '4'));
  const resyncS = Number(opt('resync', '10'));
  const ns = 'capacity';

  const cgroup = memoryCgroup(quantityValue(limit));
  console.error('starting etcd and kube-apiserver…');
  const cp = await startControlPlane();
  const rows: string[] = [];
  const restartRows: string[] = [];
  let held = 0;
  let killedAt: number | undefined;
  let controller: RunningController | undefined;
  const wrap = cgroup ? [...cgroup.wrap] : undefined;
  const log = path.join(cp.dir, 'controller.log');
  try {
    await installCrd(cp, inferenceMonitoringCrd());
    await ensureNamespace(cp, ns);
    const api = new KubeApi(loadConnection(cp.kubeconfig));
    controller = await startController({ kubeconfig: cp.kubeconfig, namespace: ns, workers, resyncS, log, wrap, memoryLimit: limit });
    const dead = () => !controller || controller.proc.exitCode !== null || controller.proc.signalCode !== null;
    for (let n = step; n <= max; n += step) {
      const start = Date.now();
      await pool(Array.from({ length: step }, (_, k) => n - step + k), workers, async (i) => {
        await api.request('POST', resourcePath(INFERENCE_MONITORING, ns), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name: `s${i}`, namespace: ns }, spec: spec(i) });
      });
      const watch = watchUntil(api, INFERENCE_MONITORING, ns, n, applied);
      const done = await Promise.race([
        within(watch.ready, 30 * 60_000, `n=${n}`).then(() => true),
        (async () => { while (!dead()) await sleep(500); return false; })(),
      ]).finally(() => watch.stop());
      if (done) await sleep(2 * resyncS * 1000);
      if (!done || dead()) {
        killedAt = n;
        const oom = cgroup?.oomKills() ?? 0;
        rows.push(`| ${n} | — | killed (${controller.proc.signalCode ?? controller.proc.exitCode}${oom ? ', OOM-killed by the kernel' : ''}) | | | | |`);
        console.error(rows[rows.length - 1]);
        break;
      }
      const m = rss(controller.proc.pid!);
      const heap = (await metric(controller.port, 'nodejs_heap_size_used_bytes')) / 2 ** 20;
      rows.push(`| ${n} | ${((Date.now() - start) / 1000 - 2 * resyncS).toFixed(0)} | ${m.rssMiB.toFixed(0)} | ${m.hwmMiB.toFixed(0)} | ${heap.toFixed(0)} | ${cgroup ? cgroup.usageMiB().toFixed(0) : '—'} | ${cgroup?.oomKills() ?? '—'} |`);
      console.error(rows[rows.length - 1]);

      if (restartAt !== 'each' && n !== Number(restartAt)) { held = n; continue; }
      {
        await controller.stop();
        const t0 = Date.now();
        try {
          controller = await startController({ kubeconfig: cp.kubeconfig, namespace: ns, workers, resyncS, log, wrap, memoryLimit: limit });
        } catch (e) {
          // Killed before /readyz: by the kernel (SIGKILL, an OOM kill counted) or by V8 at its heap limit (SIGABRT).
          killedAt = n;
          const oom = cgroup?.oomKills() ?? 0;
          const why = /\(([^)]*)\)/.exec((e as Error).message)?.[1] ?? 'exited';
          const tail = fs.readFileSync(log, 'utf8').split('\n').filter((l) => /heap|FATAL|allocation/i.test(l)).slice(-2).join(' ');
          restartRows.push(`| ${n} | killed (${why}${oom ? ', OOM-killed by the kernel' : ''}) before /readyz${tail ? `: ${tail.slice(0, 120)}` : ''} | | | | | | |`);
          console.error(restartRows[restartRows.length - 1]);
          controller = undefined;
          break;
        }
        const ready = Date.now() - t0;
        const writesBefore = await metric(controller.port, CONTROLLER_METRICS.requests, '{kind="write"}');
        let passed = true;
        while ((await reconciledResources(controller.port).catch(() => 0)) < n) {
          if (dead()) { passed = false; break; }
          await sleep(200);
        }
        if (!passed) {
          killedAt = n;
          const oom = cgroup?.oomKills() ?? 0;
          restartRows.push(`| ${n} | ${(ready / 1000).toFixed(1)} | killed (${controller.proc.signalCode ?? controller.proc.exitCode}${oom ? ', OOM-killed by the kernel' : ''}) before its first pass | | | | |`);
          console.error(restartRows[restartRows.length - 1]);
          break;
        }
        const pass = Date.now() - t0;
        const mem = rss(controller.proc.pid!);
        const writes = (await metric(controller.port, CONTROLLER_METRICS.requests, '{kind="write"}')) - writesBefore;
        await sleep(2 * resyncS * 1000);
        const after = rss(controller.proc.pid!);
        restartRows.push(`| ${n} | ${(ready / 1000).toFixed(1)} | ${(pass / 1000).toFixed(1)} | ${writes} | ${mem.hwmMiB.toFixed(0)} | ${after.rssMiB.toFixed(0)} | ${after.hwmMiB.toFixed(0)} | ${cgroup ? cgroup.usageMiB().toFixed(0) : '—'} |`);
        console.error(restartRows[restartRows.length - 1]);
        if (dead()) { killedAt = n; break; }
        held = n;
      }
    }
  } finally {
    await controller?.stop().catch(() => undefined);
    await cp.stop();
    cgroup?.remove();
  }
  console.log(`controller capacity — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${workers} workers, resync ${resyncS} s, memory limit ${limit}${cgroup ? ` (cgroup ${cgroup.dir})` : ' (not enforced: no memory cgroup)'}`);
  console.log('| resources | s to apply the step | RSS MiB | peak RSS MiB | V8 heap used MiB | cgroup usage MiB | OOM kills |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  console.log(`\nHeld: ${held} resources within ${limit}, steady and through a restart${killedAt ? `; killed at ${killedAt}` : ` (not killed up to ${max})`}.`);
  if (restartRows.length) {
    console.log('\nRestart with the resources in place:');
    console.log('| resources | s to /readyz | s to the first complete pass | writes in that pass | peak RSS MiB at the pass | RSS MiB 2 resyncs later | peak RSS MiB 2 resyncs later | cgroup usage MiB |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of restartRows) console.log(r);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
