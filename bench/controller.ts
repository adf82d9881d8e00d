/**
 * Controller benchmark on a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok GPU nodes):
 *
 * - convergence: create N InferenceMonitoring resources at once and time
 *   until each has Ready=True at its observedGeneration (p50/p99 per resource);
 * - floor: a bare client server-side-applies exactly the same objects with the
 *   same concurrency, in the same run, and waits for the same readiness
 *   (every model Deployment available); both observe readiness through one watch;
 * - steady state: writes the controller sends over 3 resync periods once converged;
 * - memory: the controller process's RSS (VmRSS) and peak (VmHWM) after convergence.
 *
 * The controller runs as its own process (the CLI), as in a cluster.
 *
 *   npm run bench:controller [-- --sizes 10,100 --reps 1 --workers 4 --resync 10 --floor-max 500]
 */
import * as os from 'os';
import * as path from 'path';
import { loadConnection } from '../src/controller/connection';
import { KubeApi, KubeObject } from '../src/controller/kube';
import { INFERENCE_MONITORING, kindOf, resourcePath } from '../src/controller/resources';
import { renderManifests } from '../src/render';
import { inferenceMonitoringCrd } from '../src/api/crd';
import { ControlPlane, ensureNamespace, installCrd, startControlPlane } from '../test/harness/control-plane';
import { metric, pct, pool, rss, sleep, spec, startController, watchUntil, within } from './common';

const modelDeploymentReady = (d: KubeObject) => /^s\d+-m\d+$/.test(d.metadata.name)
  && (d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1) && (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);

const resourceReady = (o: KubeObject) => {
  const ready = o.status?.conditions?.find((c: any) => c.type === 'Ready');
  return ready?.status === 'True' && ready.observedGeneration === o.metadata.generation && o.status?.observedGeneration === o.metadata.generation;
};

/** Floor: SSA every object of N stacks with `concurrency` in flight, until every model Deployment is ready. */
async function floor(api: KubeApi, ns: string, n: number, concurrency: number): Promise<number> {
  const objects = Array.from({ length: n }, (_, i) => renderManifests({ name: `s${i}`, namespace: ns, spec: spec(i) })).flat();
  const watch = watchUntil(api, kindOf('apps/v1', 'Deployment'), ns, n, modelDeploymentReady);
  try {
    await sleep(500); // the watch is open before the clock starts
    const start = Date.now();
    // Stacks in parallel, objects of one stack in apply order, as the controller does.
    const stacks = Array.from({ length: n }, (_, i) => objects.filter((o) => o.metadata.name.startsWith(`s${i}-`)));
    await pool(stacks, concurrency, async (objs) => { for (const o of objs) await api.apply(o as KubeObject); });
    const readyAt = await within(watch.ready, 30 * 60_000, 'floor');
    return Math.max(...readyAt.values()) - start;
  } finally {
    watch.stop();
  }
}

async function controllerRun(cp: ControlPlane, api: KubeApi, ns: string, n: number, workers: number, resyncS: number) {
  const controller = await startController({ kubeconfig: cp.kubeconfig, namespace: ns, workers, resyncS, log: path.join(cp.dir, `controller-${n}.log`) });
  const { proc, port } = controller;
  try {
    const created = new Map<string, number>();
    const watch = watchUntil(api, INFERENCE_MONITORING, ns, n, resourceReady);
    await sleep(500); // the watch is open before the clock starts
    const start = Date.now();
    await pool(Array.from({ length: n }, (_, i) => i), workers, async (i) => {
      await api.request('POST', resourcePath(INFERENCE_MONITORING, ns), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name: `s${i}`, namespace: ns }, spec: spec(i) });
      created.set(`s${i}`, Date.now());
    });
    const readyAt = await within(watch.ready, 30 * 60_000, 'controller').finally(() => watch.stop());
    const total = Math.max(...readyAt.values()) - start;
    const latencies = [...readyAt].map(([k, t]) => t - created.get(k)!);
    const memConverged = rss(proc.pid!);
    if (process.env.BENCH_HEAP_SNAPSHOT) {
      // Run with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2: the controller writes Heap.*.heapsnapshot into the working directory.
      proc.kill('SIGUSR2');
      await sleep(20_000);
    }
    const writesBefore = await metric(port, 'inference_monitoring_kube_requests', '{kind="write"}');
    const readsBefore = await metric(port, 'inference_monitoring_kube_requests', '{kind="read"}');
    const watchesBefore = await metric(port, 'inference_monitoring_kube_requests', '{kind="watch"}');
    await sleep(3 * resyncS * 1000 + 1000);
    const steadyWrites = (await metric(port, 'inference_monitoring_kube_requests', '{kind="write"}')) - writesBefore;
    const steadyReads = (await metric(port, 'inference_monitoring_kube_requests', '{kind="read"}')) - readsBefore;
    const steadyWatches = (await metric(port, 'inference_monitoring_kube_requests', '{kind="watch"}')) - watchesBefore;
    const reconciles = await metric(port, 'inference_monitoring_reconcile_total', '{result="success"}');
    const heapMiB = (await metric(port, 'nodejs_heap_size_used_bytes')) / 2 ** 20;
    return { total, p50: pct(latencies, 50), p99: pct(latencies, 99), steadyWrites, steadyReads, steadyWatches, reconciles, mem: rss(proc.pid!), memConverged, heapMiB };
  } finally {
    await controller.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
  const sizes = opt('sizes', '10,100').split(',').map(Number);
  const workers = Number(opt('workers', '4'));
  // Sizes above this run without the floor (memory at 1000 needs no floor, and the nodes hold one set).
  const floorMax = Number(opt('floor-max', '500'));
  const resyncS = Number(opt('resync', '10'));
  // Floor and controller alternate this many times per size; the spread of the ratio shows the noise of a shared machine.
  const reps = Number(opt('reps', '1'));
  const maxN = Math.max(...sizes);
  // Every stack's model asks for one GPU and several CPUs; the floor and the controller run one after the other.
  const nodes = Array.from({ length: Math.ceil((2 * maxN) / 8) + 1 }, (_, i) => ({ name: `gpu-node-${i}`, gpus: 8 }));
  console.error(`starting control plane with ${nodes.length} kwok GPU nodes…`);
  const cp = await startControlPlane({ nodes });
  const rows: string[] = [];
  const summary: string[] = [];
  try {
    await installCrd(cp, inferenceMonitoringCrd());
    const api = new KubeApi(loadConnection(cp.kubeconfig));
    const ratios = new Map<number, number[]>();
    for (const n of sizes) {
      for (let rep = 1; rep <= reps; rep++) {
        const last = n === sizes[sizes.length - 1] && rep === reps;
        const ns = reps > 1 ? `${n}-${rep}` : `${n}`;
        await ensureNamespace(cp, `ctl-${ns}`);
        let floorMs = NaN;
        if (n <= floorMax) {
          await ensureNamespace(cp, `floor-${ns}`);
          console.error(`n=${n}${reps > 1 ? ` rep ${rep}` : ''}: floor…`);
          floorMs = await floor(api, `floor-${ns}`, n, workers);
          // Free the floor's GPUs, CPU and memory before the controller's run (the nodes hold one set, not two).
          await deleteNamespace(cp, `floor-${ns}`);
        }
        console.error(`n=${n}${reps > 1 ? ` rep ${rep}` : ''}: controller…`);
        const c = await controllerRun(cp, api, `ctl-${ns}`, n, workers, resyncS);
        if (!Number.isNaN(floorMs)) ratios.set(n, [...(ratios.get(n) ?? []), c.total / floorMs]);
        const withFloor = (f: (ms: number) => string) => (Number.isNaN(floorMs) ? '—' : f(floorMs));
        rows.push(`| ${n} | ${withFloor((ms) => (ms / 1000).toFixed(1))} | ${(c.total / 1000).toFixed(1)} | ${withFloor((ms) => `${(c.total / ms).toFixed(2)}×`)} | ${(c.p50 / 1000).toFixed(1)} | ${(c.p99 / 1000).toFixed(1)} | ${c.steadyWrites} | ${c.steadyReads} | ${c.steadyWatches} | ${c.memConverged.rssMiB.toFixed(0)} | ${c.mem.hwmMiB.toFixed(0)} | ${c.heapMiB.toFixed(0)} |`);
        console.error(rows[rows.length - 1]);
        // Free the GPUs and pods before the next run (after the last one the control plane just stops).
        if (!last) await deleteNamespace(cp, `ctl-${ns}`);
      }
    }
    for (const [n, rs] of ratios) if (rs.length > 1) summary.push(`N = ${n}: median ratio ${pct(rs, 50).toFixed(2)}× over ${rs.length} runs (${Math.min(...rs).toFixed(2)}×–${Math.max(...rs).toFixed(2)}×)`);
  } finally {
    await cp.stop();
  }
  console.log(`controller benchmark — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${workers} workers (floor: ${workers} concurrent appliers), resync ${resyncS} s`);
  console.log('| N | floor s | controller s | ratio | p50 create→Ready s | p99 s | writes in 3 resyncs | reads in 3 resyncs | watches opened in 3 resyncs | RSS MiB | peak RSS MiB | V8 heap used MiB |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  for (const line of summary) console.log(`\n${line}`);
}

async function deleteNamespace(cp: ControlPlane, ns: string): Promise<void> {
  await cp.request('DELETE', `/api/v1/namespaces/${ns}`);
  while ((await cp.request('GET', `/api/v1/namespaces/${ns}`)).status !== 404) await sleep(500);
}

main().catch((e) => { console.error(e); process.exit(1); });
