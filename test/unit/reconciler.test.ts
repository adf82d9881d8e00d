/**
 * The reconciler called directly against an in-memory fake API (no apiserver): what the CRD admits but
 * cannot be rendered, status messages longer than the CRD allows, and two resources whose objects share
 * names reconciled at the same time. The same cases run on a real apiserver with the real controller in
 * controller-render-errors.test.ts and controller-ownership.test.ts.
 */
import { Action } from '../../src/controller/action';
import { boundedMessage, MAX_CONDITION_MESSAGE_BYTES, setCondition, Condition } from '../../src/controller/conditions';
import { APPLY_FAILED_RETRY_MS, ApplyFailedError, errorPolicy, InvalidSpecError, RenderError, TerminalError } from '../../src/controller/errors';
import { FinalizerApi, withFinalizer } from '../../src/controller/finalizer';
import { KubeApi, KubeApiError, KubeObject } from '../../src/controller/kube';
import { OWNER_LABEL, Reconciler, renderErrors } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, OWNED_KINDS, ResourceKind } from '../../src/controller/resources';
import * as render from '../../src/render';
import { renderManifests } from '../../src/render';
import type { InferenceMonitoringSpecInput, ModelInput } from '../../src/api/spec-input';

const NS = 'tenant';
/** What the CRD says of `status.conditions[].message`. */
const CRD_MESSAGE_MAX = 32768;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const keyOf = (o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * Objects in a map; every request yields to the event loop first (as a real request does), so two
 * reconciles in flight interleave. An apply merges into whatever is there (server-side apply with one
 * field manager takes the fields over); a status write with a message over the CRD's maxLength is
 * refused with 422, as the apiserver does.
 */
class FakeApi {
  readonly objects = new Map<string, KubeObject>();
  readonly writes: string[] = [];
  readonly events: Array<{ name: string; reason: string; message: string }> = [];
  /** Extra event-loop turns an apply takes, by `<owner label> <kind>`: requests of two reconciles overtake each other as they do on a busy apiserver. */
  readonly slow = new Map<string, number>();
  private uid = 0;
  private rv = 1;
  private tick = () => new Promise<void>((r) => setImmediate(r));

  add(obj: KubeObject): KubeObject {
    const o = clone(obj);
    o.metadata.uid ??= `uid-${++this.uid}`;
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.generation ??= 1;
    this.objects.set(keyOf(o), o);
    return clone(o);
  }
  async get(k: ResourceKind, namespace: string, name: string): Promise<KubeObject | undefined> {
    await this.tick();
    const o = this.objects.get(keyOf({ apiVersion: k.apiVersion, kind: k.kind, metadata: { name, namespace: namespace || undefined } }));
    return o && clone(o);
  }
  async list(k: ResourceKind, namespace?: string, labelSelector?: string): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    await this.tick();
    const [label, value] = (labelSelector ?? '').split('=');
    const items = [...this.objects.values()].filter((o) => o.apiVersion === k.apiVersion && o.kind === k.kind && (namespace === undefined || o.metadata.namespace === namespace)
      && (!label || (value === undefined ? label in (o.metadata.labels ?? {}) : o.metadata.labels?.[label] === value)));
    return { items: clone(items), resourceVersion: String(this.rv) };
  }
  async apply(obj: KubeObject): Promise<KubeObject> {
    for (let i = this.slow.get(`${obj.metadata.labels?.[OWNER_LABEL]} ${obj.kind}`) ?? 1; i > 0; i--) await this.tick();
    this.writes.push(`apply ${keyOf(obj)}`);
    const current = this.objects.get(keyOf(obj));
    return this.add({ ...(current ?? {}), ...clone(obj), metadata: { ...(current?.metadata ?? {}), ...clone(obj.metadata), uid: current?.metadata.uid } } as KubeObject);
  }
  async applyStatus(k: ResourceKind, namespace: string, name: string, status: any): Promise<KubeObject> {
    await this.tick();
    this.writes.push(`status ${namespace}/${name}`);
    for (const c of status.conditions ?? []) {
      if (c.message.length > CRD_MESSAGE_MAX) throw new KubeApiError(422, 'Invalid', `InferenceMonitoring.monitoring.inference.dev "${name}" is invalid: status.conditions[0].message: Too long: may not be more than ${CRD_MESSAGE_MAX} bytes`);
    }
    const cr = this.objects.get(keyOf({ apiVersion: k.apiVersion, kind: k.kind, metadata: { name, namespace } }))!;
    cr.status = clone(status);
    return clone(cr);
  }
  async event(regarding: KubeObject, _type: string, reason: string, message: string): Promise<void> {
    await this.tick();
    this.writes.push(`event ${regarding.metadata.name} ${reason}`);
    this.events.push({ name: regarding.metadata.name, reason, message });
  }
  async mergePatch(k: ResourceKind, namespace: string, name: string, patch: any): Promise<KubeObject> {
    await this.tick();
    this.writes.push(`merge-patch ${namespace}/${name}`);
    const cr = this.objects.get(keyOf({ apiVersion: k.apiVersion, kind: k.kind, metadata: { name, namespace } }))!;
    cr.metadata = { ...cr.metadata, ...patch.metadata };
    return clone(cr);
  }
  async delete(obj: KubeObject): Promise<void> {
    await this.tick();
    this.writes.push(`delete ${keyOf(obj)}`);
    this.objects.delete(keyOf(obj));
  }
}

const setUp = () => {
  const api = new FakeApi();
  const reconciler = new Reconciler({
    api: api as unknown as KubeApi,
    getResource: (key) => { const [namespace, name] = key.split('/'); const o = api.objects.get(keyOf({ ...INFERENCE_MONITORING, metadata: { name, namespace } })); return o && clone(o); },
    availableKinds: () => OWNED_KINDS,
    // Namespaces are objects of the fake apiserver like any other (none unless a test adds one).
    namespace: (name) => api.objects.get(keyOf({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    log: () => undefined,
    now: () => '2026-01-01T00:00:00Z',
  });
  const create = (name: string, spec: unknown, extra: Record<string, unknown> = {}) => api.add({ apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS, generation: 3, ...extra }, spec });
  const condition = (name: string, type: string) => (api.objects.get(keyOf({ ...INFERENCE_MONITORING, metadata: { name, namespace: NS } }))?.status?.conditions ?? []).find((c: any) => c.type === type);
  return { api, reconciler, create, condition };
};
const slim = { grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } };
const model = (name: string): ModelInput => ({ name, model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' });

describe('a spec the CRD admitted but that cannot be rendered', () => {
  test.each([
    ['an Alertmanager URL with an unclosed IPv6 bracket', { alerting: { endpoints: [{ url: 'https://[am' }] } }, 'spec.alerting.endpoints[0].url', 'https://[am'],
    ['an Alertmanager URL with a %zz host', { alerting: { endpoints: [{ url: 'https://%zz/' }] } }, 'spec.alerting.endpoints[0].url', 'https://%zz/'],
    ['an Alertmanager URL with port 99999', { alerting: { endpoints: [{ url: 'https://am.example:99999' }] } }, 'spec.alerting.endpoints[0].url', 'https://am.example:99999'],
    ['a remote-write URL with port 99999 (under defaultDeny)', { networkPolicy: { defaultDeny: true }, monitoring: { remoteWrite: [{ url: 'https://rw.example:99999/api/v1/push' }] } }, 'spec.monitoring.remoteWrite[0].url', 'https://rw.example:99999/api/v1/push'],
  ])('%s: Degraded with the field path for its generation, an Event with it, nothing applied, no throw, no retry', async (_name, extra, path, url) => {
    const { api, reconciler, create, condition } = setUp();
    create('demo', { models: [model('m')], ...extra });
    const action = await reconciler.reconcile(`${NS}/demo`);
    expect(action).toEqual({ result: 'failed' }); // no requeueAfterMs: waits for a change of the resource
    const degraded = condition('demo', 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', observedGeneration: 3 });
    expect(['InvalidSpec']).toContain(degraded.reason);
    // The library's URL check (the CRD's, issue #26) now refuses these when the spec is planned; before it,
    // rendering threw and renderErrors named the field. Either way: the path, Degraded, nothing applied.
    expect(degraded.message).toContain(`${path}: Invalid value: `);
    expect(url).toBeTruthy();
    expect(condition('demo', 'Ready')).toMatchObject({ status: 'False', observedGeneration: 3 });
    expect(api.events).toEqual([{ name: 'demo', reason: degraded.reason, message: expect.stringContaining(path) }]);
    expect(api.writes.filter((w) => w.startsWith('apply'))).toEqual([]);
    // The next pass (a resync) finds the same status: it writes nothing.
    const before = api.writes.length;
    expect(await reconciler.reconcile(`${NS}/demo`)).toEqual({ result: 'failed' });
    expect(api.writes.slice(before)).toEqual([]);
  });

  test('an error that no field explains is reported at spec with reason RenderFailed', () => {
    expect(renderErrors({ models: [] }, new Error('boom'))).toEqual([{ path: 'spec', message: 'InternalError: the objects could not be rendered: boom' }]);
  });

  test('a render that throws on a valid spec: Degraded (RenderFailed at spec), no throw, nothing applied', async () => {
    const { api, reconciler, create, condition } = setUp();
    const spy = jest.spyOn(render, 'renderPlan').mockImplementation(() => { throw new TypeError('Invalid URL'); });
    try {
      create('demo', { models: [model('m')], ...slim });
      expect(await reconciler.reconcile(`${NS}/demo`)).toEqual({ result: 'failed' });
      expect(condition('demo', 'Degraded')).toMatchObject({ status: 'True', reason: 'RenderFailed', observedGeneration: 3, message: 'spec: InternalError: the objects could not be rendered: Invalid URL' });
      expect(api.writes.filter((w) => w.startsWith('apply'))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('status messages stay within the CRD\'s maxLength', () => {
  test('boundedMessage keeps whole problems while they fit and says how many and how many bytes it cut', () => {
    const parts = Array.from({ length: 400 }, (_, i) => `Deployment ${NS}/object-${i}: ${'x'.repeat(200)}`);
    const full = parts.join('; ');
    const m = boundedMessage(parts);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
    const kept = m.split('; ').length - 1;
    expect(m.startsWith(parts.slice(0, kept).join('; '))).toBe(true);
    expect(m).toMatch(new RegExp(`; … ${400 - kept} more problems \\((\\d+) bytes\\) not shown$`));
    expect(Number(/\((\d+) bytes\)/.exec(m)![1])).toBe(Buffer.byteLength(full) - Buffer.byteLength(parts.slice(0, kept).join('; ')));
    expect(boundedMessage(['short', 'list'])).toBe('short; list');
  });

  test('one problem longer than the bound is cut at a character boundary, with the marker', () => {
    const m = boundedMessage([`${'é'.repeat(20_000)}`], 1000);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(1000);
    expect(m).toMatch(/^é+ … \(\d+ bytes\) not shown$/);
    const conds: Condition[] = [];
    setCondition(conds, { type: 'Degraded', status: 'True', reason: 'X', message: 'y'.repeat(100_000) });
    expect(Buffer.byteLength(conds[0].message)).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
  });

  test('143 objects that exist and are not its own: the status is written, bounded, with the count of the problems left out', async () => {
    const { api, reconciler, create, condition } = setUp();
    const models = Array.from({ length: 32 }, (_, i) => model(`model-with-a-rather-long-name-${String(i).padStart(2, '0')}`));
    const spec: InferenceMonitoringSpecInput = { models, monitoring: { mode: 'operator' } };
    for (const m of renderManifests({ name: 'big', namespace: NS, spec })) api.add(m as KubeObject); // someone else's, no owner label
    create('big', spec);
    const action = await reconciler.reconcile(`${NS}/big`);
    expect(action.result).toBe('failed');
    const degraded = condition('big', 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'ApplyFailed', observedGeneration: 3 });
    expect(Buffer.byteLength(degraded.message)).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
    expect(degraded.message).toMatch(/; … \d+ more problems \(\d+ bytes\) not shown$/);
    expect(api.events[0].message.length).toBeLessThanOrEqual(1024);
    expect(api.events[0].message).toMatch(/more problems \(\d+ bytes\) not shown$/);
  });
});

describe('two resources whose objects share names, reconciled together', () => {
  test('one gets every shared name, the other none; its message names the objects but not the other resource\'s UID', async () => {
    const { api, reconciler, create, condition } = setUp();
    // `demo-a` + model `b` and `demo` + model `a-b` both name their objects demo-a-b.
    const a = create('demo-a', { models: [model('b')], ...slim });
    const b = create('demo', { models: [{ ...model('a-b'), model: 'meta-llama/Llama-3.1-8B-Instruct' }], ...slim });
    const shared = renderManifests({ name: 'demo-a', namespace: NS, spec: a.spec }).map(keyOf)
      .filter((k) => renderManifests({ name: 'demo', namespace: NS, spec: b.spec }).map(keyOf).includes(k));
    expect(shared.map((k) => k.split('/').slice(-3).join('/'))).toEqual(['Deployment/tenant/demo-a-b', 'Service/tenant/demo-a-b', 'NetworkPolicy/tenant/demo-a-b']);
    // demo-a's Deployment and demo's NetworkPolicy take long: each would be the last to write one of them.
    api.slow.set(`${a.metadata.uid} Deployment`, 10);
    api.slow.set(`${b.metadata.uid} NetworkPolicy`, 60);
    await Promise.all([reconciler.reconcile(`${NS}/demo-a`), reconciler.reconcile(`${NS}/demo`)]);
    await Promise.all([reconciler.reconcile(`${NS}/demo`), reconciler.reconcile(`${NS}/demo-a`)]);
    const owners = shared.map((k) => api.objects.get(k)!.metadata.labels![OWNER_LABEL]);
    expect(new Set(owners).size).toBe(1);
    const [winner, loser] = owners[0] === a.metadata.uid ? [a, b] : [b, a];
    expect(condition(winner.metadata.name, 'Degraded')).toMatchObject({ status: 'False' });
    const lost = condition(loser.metadata.name, 'Degraded');
    expect(lost).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
    for (const k of shared) {
      const [, , kind, ns, name] = /^(.*)\/([^/]+)\/([^/]*)\/([^/]+)$/.exec(k)!;
      expect(lost.message).toContain(`${kind} ${ns}/${name}: exists and is not owned by this InferenceMonitoring (InferenceMonitoring ${winner.metadata.name} of this namespace owns it)`);
    }
    expect(lost.message).not.toContain(winner.metadata.uid);
    expect(JSON.stringify(api.events)).not.toContain(winner.metadata.uid);
  });
});

describe('the error policy', () => {
  const cr = { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name: 'demo', namespace: NS } } as KubeObject;

  test('a refused spec is terminal: no requeue, the resource\'s next change reconciles it, counted as failed', () => {
    const invalid = new TerminalError(new InvalidSpecError([{ path: 'spec.models', message: 'Required value' }]));
    expect(errorPolicy(cr, invalid)).toEqual({ result: 'failed' });
    const broken = new TerminalError(new RenderError({ models: [] }, new Error('boom')));
    expect(errorPolicy(cr, broken)).toEqual({ result: 'failed' });
  });

  test('objects that could not be applied are retried after 30 s, or after the context\'s delay, counted as failed', () => {
    const failed = new ApplyFailedError(['Deployment tenant/demo-m: boom']);
    expect(errorPolicy(cr, failed)).toEqual({ requeueAfterMs: APPLY_FAILED_RETRY_MS, result: 'failed' });
    expect(APPLY_FAILED_RETRY_MS).toBe(30_000);
    expect(errorPolicy(cr, failed, { applyFailedRetryMs: 5 })).toEqual({ requeueAfterMs: 5, result: 'failed' });
  });

  test('a render error keeps its cause and blames the fields it can name (InvalidSpec), otherwise spec (RenderFailed)', () => {
    const cause = new TypeError('Invalid URL');
    const named = new RenderError({ alerting: { endpoints: [{ url: 'https://[am' }] } }, cause);
    expect(named).toMatchObject({ reason: 'InvalidSpec', cause, errors: [{ path: 'spec.alerting.endpoints[0].url' }] });
    const unnamed = new RenderError({ models: [] }, cause);
    expect(unnamed).toMatchObject({ reason: 'RenderFailed', cause, message: 'spec: InternalError: the objects could not be rendered: Invalid URL' });
    expect(new TerminalError(unnamed).cause).toBe(unnamed);
  });

  test('Action.requeue and Action.awaitChange carry the result only when given one', () => {
    expect(Action.requeue(0)).toEqual({ requeueAfterMs: 0 });
    expect(Object.keys(Action.requeue(0))).toEqual(['requeueAfterMs']);
    expect(Action.requeue(15_000, 'success')).toEqual({ requeueAfterMs: 15_000, result: 'success' });
    expect(Object.keys(Action.awaitChange())).toEqual([]);
    expect(Action.awaitChange('failed')).toEqual({ result: 'failed' });
  });
});

describe('withFinalizer', () => {
  const FIN = 'monitoring.inference.dev/cleanup';
  /** A scripted merge-patch: records each patch, answers with the next scripted error (if any). */
  const scripted = (...errors: Array<Error | undefined>) => {
    const patches: Array<{ namespace: string; name: string; patch: any }> = [];
    const api: FinalizerApi = {
      mergePatch: async (_k, namespace, name, patch) => {
        patches.push({ namespace, name, patch });
        const e = errors.shift();
        if (e) throw e;
        return {} as KubeObject;
      },
    };
    return { api, patches };
  };
  /** Chained fixtures: inferenceMonitoring().finalized().deleting(). */
  const inferenceMonitoring = (metadata: Record<string, unknown> = {}) => {
    const obj = { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name: 'demo', namespace: NS, resourceVersion: '42', ...metadata } } as KubeObject;
    return Object.assign(obj, {
      finalized: () => inferenceMonitoring({ ...metadata, finalizers: ['other.example/keep', FIN] }),
      deleting: () => inferenceMonitoring({ ...metadata, deletionTimestamp: '2026-01-01T00:00:00Z' }),
    });
  };
  const handlers = (needed: boolean, calls: string[]) => ({
    apply: async (f: { add(needed: boolean): Promise<boolean> }) => {
      calls.push('apply');
      if (await f.add(needed)) { calls.push('added'); return Action.requeue(0); }
      calls.push('applied');
      return Action.requeue(1000, 'success');
    },
    cleanup: async () => { calls.push('cleanup'); },
  });

  test('a live resource that does not need the finalizer is applied without a patch', async () => {
    const { api, patches } = scripted();
    const calls: string[] = [];
    expect(await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring(), handlers(false, calls))).toEqual({ requeueAfterMs: 1000, result: 'success' });
    expect(calls).toEqual(['apply', 'applied']);
    expect(patches).toEqual([]);
  });

  test('a live resource that needs it gets it first, guarded by the resourceVersion read, and the pass ends', async () => {
    const { api, patches } = scripted();
    const calls: string[] = [];
    expect(await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring({ finalizers: ['other.example/keep'] }), handlers(true, calls))).toEqual({ requeueAfterMs: 0 });
    expect(calls).toEqual(['apply', 'added']);
    expect(patches).toEqual([{ namespace: NS, name: 'demo', patch: { metadata: { finalizers: ['other.example/keep', FIN], resourceVersion: '42' } } }]);
  });

  test('a live resource that already carries it is applied without a patch', async () => {
    const { api, patches } = scripted();
    const calls: string[] = [];
    await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().finalized(), handlers(true, calls));
    expect(calls).toEqual(['apply', 'applied']);
    expect(patches).toEqual([]);
  });

  test('adding it to a resource that changed meanwhile (409) throws, for the runner to retry', async () => {
    const { api } = scripted(new KubeApiError(409, 'Conflict', 'the object has been modified'));
    await expect(withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring(), handlers(true, []))).rejects.toThrow('the object has been modified');
  });

  test('a resource being deleted with the finalizer: cleanup, then only this finalizer removed, guarded; success', async () => {
    const { api, patches } = scripted();
    const calls: string[] = [];
    expect(await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().finalized().deleting(), handlers(true, calls))).toEqual({ result: 'success' });
    expect(calls).toEqual(['cleanup']);
    expect(patches).toEqual([{ namespace: NS, name: 'demo', patch: { metadata: { finalizers: ['other.example/keep'], resourceVersion: '42' } } }]);
  });

  test('a resource being deleted without the finalizer: no cleanup, no patch, success', async () => {
    const { api, patches } = scripted();
    const calls: string[] = [];
    expect(await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().deleting(), handlers(true, calls))).toEqual({ result: 'success' });
    expect(calls).toEqual([]);
    expect(patches).toEqual([]);
  });

  test('a cleanup that throws leaves the finalizer in place', async () => {
    const { api, patches } = scripted();
    const failing = { ...handlers(true, []), cleanup: async () => { throw new Error('list failed'); } };
    await expect(withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().finalized().deleting(), failing)).rejects.toThrow('list failed');
    expect(patches).toEqual([]);
  });

  test('removing it from a resource already gone (404) or changed (409) is success; any other error is thrown', async () => {
    for (const status of [404, 409]) {
      const { api } = scripted(new KubeApiError(status, 'X', 'x'));
      expect(await withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().finalized().deleting(), handlers(true, []))).toEqual({ result: 'success' });
    }
    const { api } = scripted(new KubeApiError(500, 'InternalError', 'etcd timeout'));
    await expect(withFinalizer(api, INFERENCE_MONITORING, FIN, inferenceMonitoring().finalized().deleting(), handlers(true, []))).rejects.toThrow('etcd timeout');
  });
});
