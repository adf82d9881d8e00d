/**
 * End to end on a real control plane with kube-controller-manager,
 * kube-scheduler and kwok GPU nodes: the controller's Deployments roll out to
 * GPU pods that schedule and run, the resource turns Ready from real
 * Deployment status, and deleting it garbage-collects every child.
 */
import * as fs from 'fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/manager';
import { KubeApi } from '../../src/controller/kube';
import { OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, OWNED_KINDS, resourcePath } from '../../src/controller/resources';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, k8sBinDir, startControlPlane } from '../harness/control-plane';
import { waitFor as poll } from '../harness/wait';

const NS = 'llm';

const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90_000) => poll(what, check, timeoutMs, 500);

const runIf = haveK8sBinaries() && fs.existsSync(`${k8sBinDir()}/kwok`) ? describe : describe.skip;

runIf('controller end to end with kube-controller-manager, scheduler and kwok GPU nodes', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller;

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: [{ name: 'gpu-node-0', gpus: 8 }, { name: 'gpu-node-1', gpus: 8 }] });
    await ensureNamespace(cp, NS);
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    controller = new Controller({ api: new KubeApi(kc), resyncMs: 5000, log: (msg, f) => { if (process.env.CIM_DEBUG) console.log(msg, JSON.stringify(f)); } });
    await controller.start();
  }, 240_000);
  afterAll(async () => { await controller?.stop(); await cp?.stop(); });

  test('GPU pods of every model schedule on GPU nodes and run; the resource becomes Ready', async () => {
    await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), {
      apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'e2e', namespace: NS },
      spec: {
        models: [
          { name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } },
          { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', replicas: 2 },
        ],
      },
    });
    const status = await waitFor('Ready=True', async () => {
      const cr = await api.get(INFERENCE_MONITORING, NS, 'e2e');
      return cr?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? cr.status : undefined;
    }, 150_000).catch(async (e) => {
      // Say why: the pods' phases and conditions, and the resource's status.
      const pods = (await api.request('GET', `/api/v1/namespaces/${NS}/pods`)).items.map((p: any) => `${p.metadata.name} ${p.spec.nodeName} ${p.status.phase} ${JSON.stringify(p.status.conditions)}`);
      const deps = (await api.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments`)).items.map((d: any) => `${d.metadata.name} ${JSON.stringify(d.status)}`);
      const cr = await api.get(INFERENCE_MONITORING, NS, 'e2e');
      throw new Error(`${e.message}\n${pods.join('\n')}\n${deps.join('\n')}\n${JSON.stringify(cr?.status)}`);
    });
    expect(status.modelsReady).toBe('2/2');
    // Status is written when the objects are applied, then at most once per replica turning ready: not on every pass of the rollout.
    const statusWrites = controller['opts'].api.authorized.get('patch monitoring.inference.dev/inferencemonitorings/status') ?? 0;
    expect(statusWrites).toBeGreaterThanOrEqual(2);
    expect(statusWrites).toBeLessThanOrEqual(1 + 3);
    expect(status.models).toEqual([{ name: 'qwen', replicas: 1, readyReplicas: 1, ready: true }, { name: 'llama', replicas: 2, readyReplicas: 2, ready: true }]);
    const pods = (await api.request('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent('monitoring.inference.dev/model')}`)).items;
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.status.phase).toBe('Running');
      expect(p.spec.nodeName).toMatch(/^gpu-node-/);
    }
    // Converged with kube-controller-manager writing Deployment status: the controller writes nothing more.
    const writes = controller['opts'].api.counts.writes;
    await new Promise((r) => setTimeout(r, 11_000)); // two resync periods
    expect(controller['opts'].api.counts.writes - writes).toBe(0);
    // The scheduler honoured the GPU requests: 4 + 1 + 1 of 16 GPUs.
    const gpus = pods.reduce((n: number, p: any) => n + Number(p.spec.containers[0].resources.limits['nvidia.com/gpu']), 0);
    expect(gpus).toBe(6);
  }, 200_000);

  test('deleting the resource garbage-collects every child', async () => {
    const cr = await api.get(INFERENCE_MONITORING, NS, 'e2e');
    await api.request('DELETE', resourcePath(INFERENCE_MONITORING, NS, 'e2e'));
    await waitFor('children collected', async () => {
      for (const k of OWNED_KINDS.filter((x) => ['v1', 'apps/v1', 'rbac.authorization.k8s.io/v1', 'networking.k8s.io/v1'].includes(x.apiVersion))) {
        const { items } = await api.list(k, NS, `${OWNER_LABEL}=${cr!.metadata.uid}`);
        if (items.length) return undefined;
      }
      return true;
    }, 120_000);
  }, 150_000);
});
