/**
 * The controller installed from its Helm chart on a real node: `helm template` of
 * deploy/helm/inference-monitoring-controller (generated from the ControllerInstall construct), with the image set
 * through `image.repository`/`image.tag` and a release namespace other than the default, applied as Helm would
 * (the crds/ first, then the templates into the release namespace). The controller runs in pods with the chart's
 * ServiceAccount and RBAC, takes its Lease in the release namespace and reconciles an InferenceMonitoring
 * (operator mode, one vLLM stand-in) to Ready from real pod and Deployment status.
 *
 * `helm install` itself is not run: there is no Helm release storage to test here beyond what
 * `helm template` renders, and the objects are the same.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { parseAllDocuments, stringify } from 'yaml';
import { ControlPlane, installPrometheusOperatorCrds, NODE_NAME, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, CONTROLLER_IMAGE, ENGINE_STANDIN_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { waitFor as poll } from '../harness/wait';
import { clusterClient } from '../harness/cluster-client';
import { helmBin, REPO } from '../harness/binaries';
import { HELM_CHART_DIR } from '../../scripts/helm-chart';

const HELM = helmBin();
const can = [canRunNode(), { ok: !!HELM, why: 'helm not built (tools/build-helm.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the Helm node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;

const RELEASE_NS = 'imc-helm';
const NS = 'llm';
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 1000);

runIf(can.ok ? 'on a real node: the controller installed from its Helm chart' : `on a real node: the Helm chart: SKIPPED, ${can.why}`, () => {
  let cp: ControlPlane;
  let node: TestNode;
  const { kubectl, getJson, podsOf, explain } = clusterClient(() => cp, () => `--- kubelet\n${node?.logTail('kubelet', 15)}`);

  beforeAll(async () => {
    const images = buildNodeImages();
    cp = await startControlPlane({ forPods: true });
    // kube-prometheus-stack's CRDs: the chart's ServiceMonitor and PrometheusRule are rendered for them (--api-versions below).
    await installPrometheusOperatorCrds(cp);
    node = await startNode(cp, { images, gpus: 2 });
  }, 600_000);
  afterAll(async () => {
    await node?.stop();
    await cp?.stop();
  }, 120_000);

  test('helm template output (image and namespace from values) runs the controller, which reconciles a resource to Ready', async () => {
    const [repository, tag] = [CONTROLLER_IMAGE.slice(0, CONTROLLER_IMAGE.lastIndexOf(':')), CONTROLLER_IMAGE.slice(CONTROLLER_IMAGE.lastIndexOf(':') + 1)];
    const rendered = execFileSync(HELM!, ['template', 'imc', path.join(REPO, HELM_CHART_DIR), '--namespace', RELEASE_NS, '--include-crds',
      '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'replicas=1',
      '--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor', '--api-versions', 'monitoring.coreos.com/v1/PrometheusRule'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const objects = parseAllDocuments(rendered).map((d) => d.toJSON()).filter((o) => o);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((o) => o.metadata.name)).toEqual(['inferencemonitorings.monitoring.inference.dev']);
    // As `helm install --create-namespace` does: the namespace, the chart's crds/, then its templates.
    await kubectl(['create', 'namespace', RELEASE_NS]);
    await kubectl(['apply', '--server-side', '-f', '-'], crds.map((o) => stringify(o)).join('---\n'));
    await kubectl(['wait', '--for=condition=Established', 'crd/inferencemonitorings.monitoring.inference.dev', '--timeout=60s']);
    await kubectl(['apply', '--server-side', '-f', '-'], objects.filter((o) => o.kind !== 'CustomResourceDefinition').map((o) => stringify(o)).join('---\n'));

    const pods = await waitFor('the controller pod Ready', async () => {
      const ps = await podsOf(RELEASE_NS, 'app.kubernetes.io/name=inference-monitoring-controller');
      return ps.length === 1 && ps.every((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')) ? ps : undefined;
    }).catch(async (e) => { throw await explain(e); });
    expect(pods[0].spec.nodeName).toBe(NODE_NAME);
    expect(pods[0].spec.containers[0].image).toBe(CONTROLLER_IMAGE);
    expect(pods[0].spec.serviceAccountName).toBe('inference-monitoring-controller');
    // Leader election in the release namespace: the chart's Role there is what lets it hold the Lease.
    const lease = await waitFor('the Lease held in the release namespace', async () => {
      const l = await getJson(['-n', RELEASE_NS, 'get', 'lease', 'inference-monitoring-controller']).catch(() => undefined);
      return l?.spec?.holderIdentity ? l : undefined;
    }).catch(async (e) => { throw await explain(e); });
    expect(lease.spec.holderIdentity).toBe(`${pods[0].metadata.name}-1`);

    await kubectl(['create', 'namespace', NS]);
    const cr = {
      apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'helm-demo', namespace: NS },
      spec: {
        models: [{ name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', image: ENGINE_STANDIN_IMAGE,
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' }, sharedMemory: '64Mi' } }],
        monitoring: { mode: 'operator' },
      },
    };
    await kubectl(['apply', '--server-side', '-f', '-'], stringify(cr));
    const status = await waitFor('InferenceMonitoring Ready', async () => {
      const o = await getJson(['-n', NS, 'get', 'inferencemonitoring', 'helm-demo']);
      return o.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? o.status : undefined;
    }, 240_000).catch(async (e) => { throw await explain(e); });
    expect(status.modelsReady).toBe('1/1');
    const engines = await podsOf(NS, 'app.kubernetes.io/component=inference');
    expect(engines.map((p) => [p.status.phase, p.spec.containers[0].image])).toEqual([['Running', ENGINE_STANDIN_IMAGE]]);
  }, 420_000);
});
