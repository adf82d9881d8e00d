/**
 * The controller's Helm chart (deploy/helm/inference-monitoring-controller, generated from the ControllerInstall
 * construct) through its life on a real node, with a real Helm (tools/build-helm.sh) and its release storage:
 *
 * 1. `helm install` (image through `image.repository`/`image.tag`, a release namespace other than the default):
 *    the controller runs in a pod with the chart's ServiceAccount and RBAC, holds its Lease in the release
 *    namespace and reconciles an InferenceMonitoring (operator mode, one vLLM stand-in) to Ready.
 * 2. Upgrade to a next chart version whose CRD changed: the CRD first, server-side (Helm never upgrades crds/),
 *    then `helm upgrade` with another image tag (the same image under a second name): the Deployment rolls to a
 *    new pod, the Lease moves to it, the new leader reconciles the resource and writes nothing (its children's and
 *    its own resourceVersions unchanged), `helm history` shows 2 revisions.
 * 3. `helm uninstall` with resources left: the chart's objects go (controller, RBAC, Service, …); the CRD, the
 *    resources and their children stay untouched. Without the controller, a resource whose children are all in its
 *    own namespace carries no finalizer and is deleted by the garbage collector (kube-controller-manager) with
 *    all its children; one with children in another namespace carries the controller's finalizer and its
 *    deletion waits, children kept.
 * 4. The documented order: install the controller again; it finishes that deletion (its finalizer's cleanup of
 *    the other namespace); with the resources gone, `helm uninstall` leaves nothing behind but the CRD and the
 *    controller's Lease.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments, stringify } from 'yaml';
import { ControlPlane, installPrometheusOperatorCrds, NODE_NAME, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { waitFor as poll } from '../harness/wait';
import { clusterClient } from '../harness/cluster-client';
import { helmBin, REPO } from '../harness/binaries';
import { HELM_CHART_DIR } from '../../scripts/helm-chart';
import { FINALIZER, OWNER_LABEL, ALLOW_FROM_ANNOTATION } from '../../src/controller/reconciler';
import { OWNED_KINDS } from '../../src/controller/resources';

const HELM = helmBin();
const can = [canRunNode(), { ok: !!HELM, why: 'helm not built (tools/build-helm.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the Helm node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;

const RELEASE = 'imc';
const RELEASE_NS = 'imc-helm';
const NS = 'llm';
const OTHER = 'other-team';
const CRD = 'inferencemonitorings.monitoring.inference.dev';
const CONTROLLER = 'app.kubernetes.io/name=inference-monitoring-controller';
const [REPOSITORY, TAG] = [CONTROLLER_IMAGE.slice(0, CONTROLLER_IMAGE.lastIndexOf(':')), CONTROLLER_IMAGE.slice(CONTROLLER_IMAGE.lastIndexOf(':') + 1)];
/** The same image under a second tag: what an upgrade to a new image looks like to Helm and the kubelet. */
const UPGRADE_TAG = `${TAG}-upgrade`;
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 1000);
/** Every kind the controller writes that this cluster serves (no LeaderWorkerSet, no KEDA here), as kubectl names them. */
const CHILD_KINDS = OWNED_KINDS.filter((k) => !/leaderworkerset|keda/.test(k.apiVersion))
  .map((k) => (k.apiVersion.includes('/') ? `${k.plural}.${k.apiVersion.split('/')[0]}` : k.plural)).join(',');

runIf(can.ok ? 'on a real node: the controller installed, upgraded and uninstalled with Helm' : `on a real node: the Helm chart: SKIPPED, ${can.why}`, () => {
  let cp: ControlPlane;
  let node: TestNode;
  const { kubectl, getJson, podsOf, explain } = clusterClient(() => cp, () => `--- kubelet\n${node?.logTail('kubelet', 15)}`);
  const helmHome = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-helm-'));
  const helm = (args: string[]) => new Promise<string>((resolve, reject) => {
    execFile(HELM!, [...args, '--kubeconfig', cp.kubeconfig], {
      maxBuffer: 64 << 20,
      env: { ...process.env, HELM_CACHE_HOME: `${helmHome}/cache`, HELM_CONFIG_HOME: `${helmHome}/config`, HELM_DATA_HOME: `${helmHome}/data` },
    }, (err, stdout, stderr) => (err ? reject(new Error(`helm ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
  const imageValues = (tag: string) => ['--set', `image.repository=${REPOSITORY}`, '--set', `image.tag=${tag}`, '--set', 'replicas=1'];
  const readyControllerPod = (image: string, except: string[] = []) => waitFor(`one controller pod Ready running ${image}`, async () => {
    const ps = await podsOf(RELEASE_NS, CONTROLLER);
    return ps.length === 1 && !except.includes(ps[0].metadata.name) && ps[0].spec.containers[0].image === image
      && ps[0].status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? ps[0] : undefined;
  }).catch(async (e) => { throw await explain(e); });
  const leaseHolder = (pod: string) => waitFor(`the Lease held by ${pod}`, async () => {
    const l = await getJson(['-n', RELEASE_NS, 'get', 'lease', 'inference-monitoring-controller']).catch(() => undefined);
    return l?.spec?.holderIdentity === `${pod}-1` ? l : undefined;
  }).catch(async (e) => { throw await explain(e); });
  const cr = (name: string) => getJson(['-n', NS, 'get', 'inferencemonitoring', name]).catch(() => undefined);
  /** The resource's children (by its owner label, in every namespace): `Kind/namespace/name` → resourceVersion. */
  const children = async (uid: string): Promise<Record<string, string>> => Object.fromEntries(
    (await getJson(['get', CHILD_KINDS, '-A', '-l', `${OWNER_LABEL}=${uid}`])).items
      .map((o: any) => [`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o.metadata.resourceVersion]).sort());
  /** Everything a namespace holds but what every namespace gets (its default ServiceAccount, the root CA ConfigMap) and Events. */
  const contents = async (ns: string): Promise<string[]> => {
    const kinds = (await kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name'])).split('\n').filter((k) => k && !/^events(\.|$)/.test(k));
    return (await kubectl(['get', kinds.join(','), '-n', ns, '-o', 'name', '--ignore-not-found'])).split('\n')
      .filter((n) => n && n !== 'serviceaccount/default' && n !== 'configmap/kube-root-ca.crt').sort();
  };
  /** Two reads 3 s apart that agree: the state the controller converged to. */
  const settled = async <T>(what: string, read: () => Promise<T>): Promise<T> => {
    let last = JSON.stringify(await read());
    return waitFor(`${what} settled`, async () => {
      await new Promise((r) => setTimeout(r, 3000));
      const now = await read();
      const same = JSON.stringify(now) === last;
      last = JSON.stringify(now);
      return same ? now : undefined;
    }, 90_000);
  };
  const crossSpec = {
    // Managed mode scraping a target in another namespace: a Role and RoleBinding there (owner references cannot
    // cross namespaces), so the resource carries the controller's finalizer. Only Prometheus runs.
    models: [], targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, namespace: OTHER }],
    grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false }, gpuMetrics: { enabled: false },
    alerting: { alertmanager: { deploy: false } },
  };
  let installedObjects: string[] = [];

  beforeAll(async () => {
    const images = buildNodeImages();
    cp = await startControlPlane({ forPods: true });
    // kube-prometheus-stack's CRDs: the chart's ServiceMonitor and PrometheusRule are rendered for them (--api-versions below).
    await installPrometheusOperatorCrds(cp);
    node = await startNode(cp, { images, gpus: 2 });
    await node.ctr(['images', 'tag', CONTROLLER_IMAGE, `${REPOSITORY}:${UPGRADE_TAG}`]);
  }, 600_000);
  afterAll(async () => {
    await node?.stop();
    await cp?.stop();
    fs.rmSync(helmHome, { recursive: true, force: true });
  }, 120_000);

  test('helm install (image and namespace from values) runs the controller, which reconciles a resource to Ready', async () => {
    await helm(['install', RELEASE, path.join(REPO, HELM_CHART_DIR), '--namespace', RELEASE_NS, '--create-namespace', ...imageValues(TAG)]);
    // crds/ installed first, and kept out of the release (Helm neither upgrades nor deletes it).
    const manifest = parseAllDocuments(await helm(['get', 'manifest', RELEASE, '-n', RELEASE_NS])).map((d) => d.toJSON()).filter((o) => o);
    installedObjects = manifest.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
    expect(installedObjects.filter((o) => o.startsWith('CustomResourceDefinition/'))).toEqual([]);
    expect((await getJson(['get', 'crd', CRD])).metadata.name).toBe(CRD);

    const pod = await readyControllerPod(CONTROLLER_IMAGE);
    expect(pod.spec.nodeName).toBe(NODE_NAME);
    expect(pod.spec.serviceAccountName).toBe('inference-monitoring-controller');
    // Leader election in the release namespace: the chart's Role there is what lets it hold the Lease.
    await leaseHolder(pod.metadata.name);

    await kubectl(['create', 'namespace', NS]);
    const resource = {
      apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'helm-demo', namespace: NS },
      spec: {
        models: [{ name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', image: ENGINE_STANDIN_IMAGE,
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' }, sharedMemory: '64Mi' } }],
        monitoring: { mode: 'operator' },
      },
    };
    await kubectl(['apply', '--server-side', '-f', '-'], stringify(resource));
    const status = await waitFor('InferenceMonitoring Ready', async () => {
      const o = await cr('helm-demo');
      return o?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? o.status : undefined;
    }, 240_000).catch(async (e) => { throw await explain(e); });
    expect(status.modelsReady).toBe('1/1');
    const engines = await podsOf(NS, 'app.kubernetes.io/component=inference');
    expect(engines.map((p) => [p.status.phase, p.spec.containers[0].image])).toEqual([['Running', ENGINE_STANDIN_IMAGE]]);
  }, 420_000);

  test('upgrade: the CRD first (server-side, as Helm\'s field manager), then helm upgrade: a new pod leads, the resource stays Ready, nothing is rewritten', async () => {
    // The next release's chart: version 0.1.1, its CRD changed (a printer column's description).
    const next = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-chart-'));
    fs.cpSync(path.join(REPO, HELM_CHART_DIR), next, { recursive: true });
    fs.writeFileSync(path.join(next, 'Chart.yaml'), fs.readFileSync(path.join(next, 'Chart.yaml'), 'utf8').replace(/^version: .*$/m, 'version: 0.1.1'));
    const crdFile = path.join(next, 'crds', `${CRD}.yaml`);
    const described = 'Whether every model and the stack are ready.';
    expect(fs.readFileSync(crdFile, 'utf8')).toContain(described);
    fs.writeFileSync(crdFile, fs.readFileSync(crdFile, 'utf8').replace(described, `${described} (0.1.1)`));

    const uid = (await cr('helm-demo')).metadata.uid;
    const before = await settled('the resource and its children', async () => ({ cr: (await cr('helm-demo')).metadata.resourceVersion, children: await children(uid) }));
    expect(Object.keys(before.children)).toEqual(expect.arrayContaining([`Deployment/${NS}/helm-demo-llama`, `PodMonitor/${NS}/helm-demo-llama`]));
    const [engine] = await podsOf(NS, 'app.kubernetes.io/component=inference');
    const [oldPod] = await podsOf(RELEASE_NS, CONTROLLER);

    // Helm 4 created the CRD by server-side apply as field manager `helm`: another manager changing a field
    // Helm set conflicts, so the CRD is applied as `helm`, which also drops what a new CRD no longer has.
    const crdManagers = (await getJson(['get', 'crd', CRD, '--show-managed-fields'])).metadata.managedFields.map((m: any) => [m.manager, m.operation]);
    expect(crdManagers).toEqual(expect.arrayContaining([['helm', 'Apply']]));
    const asKubectl = await cp.kubectl(['apply', '--server-side', '-f', path.join(next, 'crds')]);
    expect([asKubectl.code, asKubectl.stderr]).toEqual([1, expect.stringMatching(/conflict with "helm"/)]);
    await kubectl(['apply', '--server-side', '--field-manager=helm', '-f', path.join(next, 'crds')]);
    const crd = await getJson(['get', 'crd', CRD, '--show-managed-fields']);
    expect(crd.spec.versions[0].additionalPrinterColumns.find((c: any) => c.name === 'Ready').description).toBe(`${described} (0.1.1)`);
    expect(crd.metadata.managedFields.filter((m: any) => m.operation === 'Apply').map((m: any) => m.manager)).toEqual(['helm']);

    await helm(['upgrade', RELEASE, next, '--namespace', RELEASE_NS, ...imageValues(UPGRADE_TAG)]);
    const newPod = await readyControllerPod(`${REPOSITORY}:${UPGRADE_TAG}`, [oldPod.metadata.name]);
    const lease = await leaseHolder(newPod.metadata.name);
    expect((await getJson(['-n', RELEASE_NS, 'get', 'deployment', 'inference-monitoring-controller'])).metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
    // The new leader reconciled the resource (its log says so), applying nothing.
    const pass = await waitFor('the new leader\'s pass over helm-demo', async () => (await kubectl(['-n', RELEASE_NS, 'logs', newPod.metadata.name]))
      .split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === 'reconciled' && l.key === `${NS}/helm-demo`))
      .catch(async (e) => { throw await explain(e); });
    expect([pass.applied, pass.pruned, pass.failures, pass.ready]).toEqual([0, 0, 0, '1/1']);
    const after = await settled('the resource and its children', async () => ({ cr: (await cr('helm-demo')).metadata.resourceVersion, children: await children(uid) }));
    expect(after).toEqual(before);
    expect((await cr('helm-demo')).status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
    const [engineAfter] = await podsOf(NS, 'app.kubernetes.io/component=inference');
    expect([engineAfter.metadata.uid, engineAfter.status.containerStatuses[0].restartCount]).toEqual([engine.metadata.uid, 0]);

    const history = JSON.parse(await helm(['history', RELEASE, '-n', RELEASE_NS, '-o', 'json']));
    expect(history.map((h: any) => [h.revision, h.status, h.chart])).toEqual([
      [1, 'superseded', 'inference-monitoring-controller-0.1.0'], [2, 'deployed', 'inference-monitoring-controller-0.1.1']]);
    console.log(`upgrade: ${oldPod.metadata.name} -> ${newPod.metadata.name}, lease transitions ${lease.spec.leaseTransitions}; ${Object.keys(before.children).length} children and the resource at the same resourceVersions`);
    fs.rmSync(next, { recursive: true, force: true });
  }, 300_000);

  test('helm uninstall removes the chart\'s objects and leaves the CRD, the resources and their children; then a deletion without the controller', async () => {
    await kubectl(['create', 'namespace', OTHER]);
    await kubectl(['annotate', 'namespace', OTHER, `${ALLOW_FROM_ANNOTATION}=${NS}`]);
    await kubectl(['apply', '--server-side', '-f', '-'], stringify({ apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'helm-cross', namespace: NS }, spec: crossSpec }));
    const crossUid = await waitFor('helm-cross reconciled: its finalizer and the Role and RoleBinding in other-team', async () => {
      const o = await cr('helm-cross');
      if (!o?.metadata.finalizers?.includes(FINALIZER) || o.status?.observedGeneration !== o.metadata.generation) return undefined;
      const there = Object.keys(await children(o.metadata.uid)).filter((k) => k.includes(`/${OTHER}/`));
      return there.length === 2 ? o.metadata.uid as string : undefined;
    }).catch(async (e) => { throw await explain(e); });
    const demoUid = (await cr('helm-demo')).metadata.uid;
    expect((await cr('helm-demo')).metadata.finalizers).toBeUndefined();
    const read = async () => ({ demo: (await cr('helm-demo')).metadata.resourceVersion, cross: (await cr('helm-cross')).metadata.resourceVersion, demoChildren: await children(demoUid), crossChildren: await children(crossUid) });
    const before = await settled('both resources and their children', read);

    expect(installedObjects).toEqual(expect.arrayContaining(['Deployment/imc-helm/inference-monitoring-controller', 'ServiceAccount/imc-helm/inference-monitoring-controller',
      'ClusterRole//inference-monitoring-controller', 'ClusterRoleBinding//inference-monitoring-controller', 'Role/imc-helm/inference-monitoring-controller',
      'RoleBinding/imc-helm/inference-monitoring-controller', 'Service/imc-helm/inference-monitoring-controller']));
    await helm(['uninstall', RELEASE, '--namespace', RELEASE_NS, '--wait']);
    await waitFor('the controller pods gone', async () => (await podsOf(RELEASE_NS, CONTROLLER)).length === 0);
    for (const o of installedObjects) {
      const [kind, ns, name] = o.split('/');
      const r = await cp.kubectl(['get', kind, name, ...(ns ? ['-n', ns] : []), '--ignore-not-found', '-o', 'name']);
      expect([o, r.code, r.stdout.trim()]).toEqual([o, 0, '']);
    }
    // Left in the release namespace: the Lease the controller made (not Helm's).
    expect(await contents(RELEASE_NS)).toEqual(['lease.coordination.k8s.io/inference-monitoring-controller']);
    const lease = (await getJson(['-n', RELEASE_NS, 'get', 'lease', 'inference-monitoring-controller'])).spec;
    console.log(`after helm uninstall, the Lease: holder ${lease.holderIdentity ?? 'none'}, ${lease.leaseDurationSeconds} s`);
    expect((await getJson(['get', 'crd', CRD])).metadata.deletionTimestamp).toBeUndefined();
    await new Promise((r) => setTimeout(r, 5000));
    expect(await read()).toEqual(before);

    // No finalizer (every child is in its own namespace): deleted at once; the garbage collector removes every child.
    await kubectl(['-n', NS, 'delete', 'inferencemonitoring', 'helm-demo', '--timeout=30s']);
    await waitFor('helm-demo\'s children and pods garbage-collected', async () => Object.keys(await children(demoUid)).length === 0
      && (await podsOf(NS, 'app.kubernetes.io/component=inference')).length === 0).catch(async (e) => { throw await explain(e); });
    // The finalizer: the deletion waits for a controller; the resource and all its children stay.
    await kubectl(['-n', NS, 'delete', 'inferencemonitoring', 'helm-cross', '--wait=false']);
    await new Promise((r) => setTimeout(r, 10_000));
    const stuck = await cr('helm-cross');
    expect([!!stuck.metadata.deletionTimestamp, stuck.metadata.finalizers]).toEqual([true, [FINALIZER]]);
    expect(await children(crossUid)).toEqual(before.crossChildren);
  }, 300_000);

  test('the documented order: the controller installed again finishes the pending deletion; with the resources gone, helm uninstall leaves only the CRD and the Lease', async () => {
    const crossUid = (await cr('helm-cross')).metadata.uid;
    await helm(['install', RELEASE, path.join(REPO, HELM_CHART_DIR), '--namespace', RELEASE_NS, ...imageValues(TAG)]);
    const t = Date.now();
    await leaseHolder((await readyControllerPod(CONTROLLER_IMAGE)).metadata.name);
    console.log(`installed again: the Lease taken ${Math.round((Date.now() - t) / 1000)} s after helm install returned`);
    // Its finalizer's cleanup deletes the Role and RoleBinding in other-team, then the garbage collector the rest.
    await waitFor('helm-cross deleted', async () => (await cr('helm-cross')) === undefined).catch(async (e) => { throw await explain(e); });
    await waitFor('nothing left in llm and other-team', async () => (await contents(NS)).length + (await contents(OTHER)).length === 0, 180_000)
      .catch(async (e) => { throw new Error(`${e.message}\nllm: ${await contents(NS)}\nother-team: ${await contents(OTHER)}`); });
    expect(await children(crossUid)).toEqual({});

    await helm(['uninstall', RELEASE, '--namespace', RELEASE_NS, '--wait']);
    await waitFor('the controller pods gone', async () => (await podsOf(RELEASE_NS, CONTROLLER)).length === 0);
    expect(await contents(RELEASE_NS)).toEqual(['lease.coordination.k8s.io/inference-monitoring-controller']);
    expect(await getJson(['get', 'inferencemonitorings', '-A'])).toMatchObject({ items: [] });
    expect((await kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'name'])).split('\n').filter((n) => n.includes('inference-monitoring'))).toEqual([]);
    expect((await getJson(['get', 'crd', CRD])).metadata.name).toBe(CRD);
  }, 360_000);
});
