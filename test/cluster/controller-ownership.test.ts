/**
 * Many teams on one cluster: the real controller on a real apiserver, acted
 * on by a hostile tenant. It never modifies or deletes an object it did not
 * create for that resource (a conflict is Degraded, naming the object), it
 * writes into another namespace only when that namespace opts in
 * (ALLOW_FROM_ANNOTATION), and what it put there goes when the opt-in is
 * withdrawn, within seconds: the controller watches namespaces, so neither
 * waits for a resync (this file's controller resyncs every 10 minutes). Two
 * resources whose object names collide do not fight.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/manager';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { ALLOW_FROM_ANNOTATION, OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, kindOf, OWNED_KINDS, resourcePath } from '../../src/controller/resources';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';
import { waitFor as poll } from '../harness/wait';

const TENANT = 'tenant';
const VICTIM = 'victim-sys';
const OTHER = 'other-team';
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) => poll(what, check, timeoutMs, 250);
const role = kindOf('rbac.authorization.k8s.io/v1', 'Role');
const binding = kindOf('rbac.authorization.k8s.io/v1', 'RoleBinding');
const deployment = kindOf('apps/v1', 'Deployment');
const model = (name: string) => ({ name, model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' });
const slim = { grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } };

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('ownership and namespace opt-in, on a real apiserver with the real controller', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller;
  const cr = (name: string, ns = TENANT) => api.get(INFERENCE_MONITORING, ns, name);
  const create = (name: string, spec: unknown, ns = TENANT) => api.request('POST', resourcePath(INFERENCE_MONITORING, ns), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: ns }, spec });
  const remove = async (name: string) => {
    await api.request('DELETE', resourcePath(INFERENCE_MONITORING, TENANT, name));
    await waitFor(`${name} deleted`, async () => (await cr(name)) === undefined);
  };
  const degraded = (name: string, match: RegExp) => waitFor(`${name} Degraded ${match}`, async () => {
    const c = ((await cr(name))?.status?.conditions ?? []).find((x: any) => x.type === 'Degraded');
    return c?.status === 'True' && match.test(c.message) ? c : undefined;
  });
  const ownedIn = async (uid: string, ns: string) => {
    const out: string[] = [];
    for (const k of OWNED_KINDS.filter((x) => !/^(monitoring\.coreos\.com|keda\.sh|leaderworkerset\.x-k8s\.io)\//.test(x.apiVersion))) {
      out.push(...(await api.list(k, ns, `${OWNER_LABEL}=${uid}`)).items.map((o) => `${o.kind}/${o.metadata.name}`));
    }
    return out.sort();
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, TENANT);
    await ensureNamespace(cp, OTHER);
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    // Resync far beyond the tests: what they see happens because of a watched change.
    controller = new Controller({ api: new KubeApi(kc), resyncMs: 600_000, log: (msg, f) => { if (process.env.CIM_DEBUG) console.log(msg, JSON.stringify(f)); } });
    await controller.start();
  }, 120_000);
  afterAll(async () => { await controller?.stop(); await cp?.stop(); });

  test('an existing Role and RoleBinding in another namespace are never taken over, even where that namespace allows the tenant', async () => {
    // victim-sys lets the tenant in, so it is the ownership rule alone that protects what the victim made.
    await ensureNamespace(cp, VICTIM, { [ALLOW_FROM_ANNOTATION]: TENANT });
    const theirRules = [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }];
    const theirSubjects = [{ kind: 'ServiceAccount', name: 'victim-app', namespace: VICTIM }];
    await api.request('POST', resourcePath(role, VICTIM), { apiVersion: role.apiVersion, kind: 'Role', metadata: { name: 'evil-prometheus', namespace: VICTIM }, rules: theirRules });
    await api.request('POST', resourcePath(binding, VICTIM), { apiVersion: binding.apiVersion, kind: 'RoleBinding', metadata: { name: 'evil-prometheus', namespace: VICTIM }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'evil-prometheus' }, subjects: theirSubjects });

    await create('evil', { models: [model('m')], ...slim, targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, namespace: VICTIM }] });
    const c = await degraded('evil', /RoleBinding victim-sys\/evil-prometheus: exists and is not owned/);
    expect(c.message).toMatch(/Role victim-sys\/evil-prometheus: exists and is not owned by this InferenceMonitoring \(no monitoring\.inference\.dev\/owner-uid label\); left unchanged/);
    // Loses nothing: the tenant's own objects are there.
    const uid = (await cr('evil'))!.metadata.uid!;
    expect(await ownedIn(uid, TENANT)).toEqual(expect.arrayContaining(['Deployment/evil-m', 'ConfigMap/evil-prometheus']));

    const unchanged = async () => {
      const r = (await api.get(role, VICTIM, 'evil-prometheus'))!;
      const b = (await api.get(binding, VICTIM, 'evil-prometheus'))!;
      expect(r.rules).toEqual(theirRules);
      expect(b.subjects).toEqual(theirSubjects);
      for (const o of [r, b]) {
        expect(o.metadata.labels?.[OWNER_LABEL]).toBeUndefined();
        expect((o.metadata.managedFields ?? []).map((m: any) => m.manager)).not.toContain('inference-monitoring-controller');
      }
    };
    await unchanged();
    // Deleting the resource (its finalizer cleans other namespaces) leaves them too.
    await remove('evil');
    await unchanged();
  }, 120_000);

  test('a namespace that has not opted in gets nothing, with the field path in status; opting in applies, withdrawing prunes', async () => {
    const created = await create('reach', { models: [model('m')], ...slim,
      targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, namespace: OTHER }],
      gpuMetrics: { enabled: true, deployExporter: false, exporterNamespace: 'kube-system' } });
    const c = await degraded('reach', /other-team/);
    expect(c.message).toContain(`spec.targets[0].namespace: Forbidden: namespace ${OTHER} does not allow InferenceMonitoring resources from ${TENANT} (its administrator can annotate it ${ALLOW_FROM_ANNOTATION}=${TENANT}); nothing was applied there`);
    expect(c.message).toContain('spec.gpuMetrics.exporterNamespace: Forbidden: namespace kube-system does not allow');
    const uid = created.metadata.uid;
    expect(await ownedIn(uid, OTHER)).toEqual([]);
    expect(await ownedIn(uid, 'kube-system')).toEqual([]);
    expect(await ownedIn(uid, TENANT)).toEqual(expect.arrayContaining(['Deployment/reach-m']));

    // Another team's list that does not name the tenant is no opt-in either.
    await ensureNamespace(cp, OTHER, { [ALLOW_FROM_ANNOTATION]: 'team-a, team-b' });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await ownedIn(uid, OTHER)).toEqual([]);

    await ensureNamespace(cp, OTHER, { [ALLOW_FROM_ANNOTATION]: `team-a, ${TENANT}` });
    await waitFor('Role and RoleBinding in other-team', async () => (await ownedIn(uid, OTHER)).length === 2);
    expect(await ownedIn(uid, OTHER)).toEqual(['Role/reach-prometheus', 'RoleBinding/reach-prometheus']);
    // kube-system still refuses: still Degraded, for that field only.
    const still = await degraded('reach', /kube-system/);
    expect(still.message).not.toContain('spec.targets[0]');

    // Withdrawn (the label-less patch removes the annotation the test set): what the tenant put there goes.
    await cp.request('PATCH', `/api/v1/namespaces/${OTHER}`, { metadata: { annotations: { [ALLOW_FROM_ANNOTATION]: null } } }, 'application/merge-patch+json');
    await waitFor('pruned from other-team', async () => (await ownedIn(uid, OTHER)).length === 0);
    await remove('reach');
  }, 120_000);

  test('a Ready resource: withdrawing and granting a namespace\'s opt-in take effect within seconds, not at the next resync', async () => {
    const LATER = 'later-team';
    await ensureNamespace(cp, LATER, { [ALLOW_FROM_ANNOTATION]: TENANT });
    const created = await create('optin', { models: [model('m')], ...slim, targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, namespace: LATER }] });
    const uid = created.metadata.uid;
    await waitFor('Role and RoleBinding in later-team', async () => (await ownedIn(uid, LATER)).length === 2);
    // No kube-controller-manager runs here: report the model's Deployment rolled out, as it would, so the
    // resource turns Ready and its next reconcile is the periodic one (5 min), not a retry.
    const dep = await waitFor('Deployment', () => api.get(deployment, TENANT, 'optin-m'));
    await api.request('PATCH', `${resourcePath(deployment, TENANT, 'optin-m')}/status`, { status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1, observedGeneration: dep.metadata.generation } }, 'application/merge-patch+json');
    await waitFor('Ready', async () => ((await cr('optin'))?.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'));

    let t0 = performance.now();
    await cp.request('PATCH', `/api/v1/namespaces/${LATER}`, { metadata: { annotations: { [ALLOW_FROM_ANNOTATION]: null } } }, 'application/merge-patch+json');
    await waitFor('pruned from later-team', async () => (await ownedIn(uid, LATER)).length === 0, 20_000);
    const withdrawnMs = performance.now() - t0;
    await degraded('optin', /later-team/);

    t0 = performance.now();
    await ensureNamespace(cp, LATER, { [ALLOW_FROM_ANNOTATION]: TENANT });
    await waitFor('applied again in later-team', async () => (await ownedIn(uid, LATER)).length === 2, 20_000);
    const grantedMs = performance.now() - t0;
    console.log(`opt-in withdrawn: pruned after ${Math.round(withdrawnMs)} ms; granted again: applied after ${Math.round(grantedMs)} ms`);
    await remove('optin');
  }, 120_000);

  test('colliding object names across resources: the second is Degraded, the first keeps its objects', async () => {
    // `demo-a` + model `b` and `demo` + model `a-b` both name their Deployment demo-a-b.
    const first = await create('demo-a', { models: [model('b')], ...slim });
    await waitFor('first converged', async () => ((await cr('demo-a'))?.status?.conditions ?? []).some((x: any) => x.type === 'Degraded' && x.status === 'False'));
    const before = (await api.get(deployment, TENANT, 'demo-a-b'))!;
    await create('demo', { models: [{ ...model('a-b'), model: 'meta-llama/Llama-3.1-8B-Instruct' }], ...slim });
    const c = await degraded('demo', /Deployment tenant\/demo-a-b: exists and is not owned/);
    // The owner is named as the tenant sees it (the object's owner reference in its own namespace), never by UID.
    expect(c.message).toContain('Deployment tenant/demo-a-b: exists and is not owned by this InferenceMonitoring (InferenceMonitoring demo-a of this namespace owns it)');
    expect(c.message).not.toContain(first.metadata.uid);
    const after = (await api.get(deployment, TENANT, 'demo-a-b'))! as KubeObject;
    expect(after.metadata.labels?.[OWNER_LABEL]).toBe(first.metadata.uid);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(JSON.stringify(after.spec)).not.toContain('Llama');
    // The first resource is still healthy.
    const firstDegraded = ((await cr('demo-a'))!.status.conditions).find((x: any) => x.type === 'Degraded');
    expect(firstDegraded.status).toBe('False');
    // Deleting the second does not delete the first's Deployment.
    await remove('demo');
    await new Promise((r) => setTimeout(r, 2000));
    expect((await api.get(deployment, TENANT, 'demo-a-b'))?.metadata.labels?.[OWNER_LABEL]).toBe(first.metadata.uid);
  }, 120_000);

  test('pairs whose object names collide, created together: one of each pair gets every shared name, the other none, and no UID is shown', async () => {
    // `<p>-a` + model `b` and `<p>` + model `a-b` both name their Deployment, Service and NetworkPolicy <p>-a-b.
    const pairs = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
    const created = await Promise.all(pairs.flatMap((p) => [create(`${p}-a`, { models: [model('b')], ...slim }), create(p, { models: [{ ...model('a-b'), model: 'meta-llama/Llama-3.1-8B-Instruct' }], ...slim })]));
    const uidOf = new Map(created.map((o: KubeObject) => [o.metadata.name, o.metadata.uid!]));
    const shared = (p: string) => [
      [deployment, `${p}-a-b`], [kindOf('v1', 'Service'), `${p}-a-b`], [kindOf('networking.k8s.io/v1', 'NetworkPolicy'), `${p}-a-b`],
    ] as const;
    const settled = async () => {
      for (const name of uidOf.keys()) {
        const c = ((await cr(name))?.status?.conditions ?? []).find((x: any) => x.type === 'Degraded');
        if (!c) return false;
      }
      return true;
    };
    await waitFor('every resource has a status', settled);
    await new Promise((r) => setTimeout(r, 4000)); // two resync periods: nothing moves any more
    const ownerNames = new Map<string, string[]>();
    for (const p of pairs) {
      const owners = await Promise.all(shared(p).map(async ([k, n]) => (await api.get(k, TENANT, n))?.metadata.labels?.[OWNER_LABEL]));
      ownerNames.set(p, owners.map((u) => [...uidOf].find(([, uid]) => uid === u)?.[0] ?? `(${u})`));
    }
    console.log(`shared objects by owner:\n  ${pairs.map((p) => `${p}: ${shared(p).map(([k], i) => `${k.kind}→${ownerNames.get(p)![i]}`).join(' ')}`).join('\n  ')}`);
    // No pair split: each pair's shared names all went to one of its two resources.
    expect(pairs.filter((p) => new Set(ownerNames.get(p)).size !== 1)).toEqual([]);
    for (const p of pairs) {
      const winner = ownerNames.get(p)![0];
      const loser = winner === p ? `${p}-a` : p;
      const w = ((await cr(winner))!.status.conditions).find((x: any) => x.type === 'Degraded');
      expect({ winner, status: w.status }).toEqual({ winner, status: 'False' });
      const l = ((await cr(loser))!.status.conditions).find((x: any) => x.type === 'Degraded');
      expect(l).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
      for (const [k, n] of shared(p)) expect(l.message).toContain(`${k.kind} ${TENANT}/${n}: exists and is not owned by this InferenceMonitoring (InferenceMonitoring ${winner} of this namespace owns it)`);
      expect(l.message).not.toContain(uidOf.get(winner));
      const events = (await api.request('GET', `/api/v1/namespaces/${TENANT}/events`)).items.filter((e: any) => e.involvedObject.name === loser);
      for (const e of events) expect(e.message).not.toContain(uidOf.get(winner));
    }
    for (const p of pairs) { await remove(`${p}-a`); await remove(p); }
  }, 180_000);
});
