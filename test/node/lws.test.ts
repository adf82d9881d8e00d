/**
 * A multi-node model group on a real node, reconciled by the real LeaderWorkerSet controller
 * (sigs.k8s.io/lws, test/harness/lws.ts) with its real webhooks: one group of two pods (leader +
 * one worker), `startupPolicy: LeaderReady`, each running the engine stand-in with vLLM's
 * multi-node command line without Ray (`--nnodes $(LWS_GROUP_SIZE) --node-rank … --master-addr
 * $(LWS_LEADER_ADDRESS)`, workers `--headless`), which the stand-in checks against vLLM's recorded
 * parser. What a multi-node dashboard and our controller rely on is checked here as LWS makes it:
 * the leader StatefulSet and the per-group worker StatefulSet, the labels and LWS_* variables the
 * Pod webhook injects, the leader address resolving in cluster DNS, group readiness in
 * `status.readyReplicas`, and the whole group recreated (RecreateGroupOnPodRestart) when a worker
 * pod is deleted.
 *
 * One group of two on one node: the pods share the node, as the group's ranks would not; no
 * engine rendezvous happens (the stand-in only parses its arguments).
 */
import { Resolver } from 'dns/promises';
import { ControlPlane, NODE_NAME, startControlPlane } from '../harness/control-plane';
import { buildNodeImages, ENGINE_STANDIN_IMAGE, PAUSE_IMAGE } from '../harness/images';
import { canRunNode, startNode, TestNode } from '../harness/node';
import { clusterClient } from '../harness/cluster-client';
import { waitFor as poll } from '../harness/wait';
import { getLws, haveLws, installLwsCrds, LWS_GROUP, LWS_LABELS, lwsPods, RunningLws, startLws, waitForLwsReadyReplicas } from '../harness/lws';

const can = [canRunNode(), { ok: haveLws(), why: 'LeaderWorkerSet not built (tools/build-lws.sh)' }].find((c) => !c.ok) ?? { ok: true, why: '' };
if (!can.ok && process.env.CI) throw new Error(`the LeaderWorkerSet node test must run in CI: ${can.why}`);
const runIf = can.ok ? describe : describe.skip;

const NS = 'llm';
const NAME = 'vllm';
const MODEL = 'Qwen/Qwen2.5-0.5B-Instruct';
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 120_000) => poll(what, check, timeoutMs, 250);

/** A pod template running the stand-in as vLLM rank `rank` of the group (vLLM's mp executor across nodes). */
function engineTemplate(rank: string, extra: string[]): any {
  return {
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{
        name: 'engine', image: ENGINE_STANDIN_IMAGE, imagePullPolicy: 'Never',
        command: ['vllm', 'serve'],
        // $(VAR) is expanded by the kubelet from the container's env, which the LWS Pod webhook fills in.
        args: [MODEL, '--port', '8000', '--tensor-parallel-size', '2', '--nnodes', '$(LWS_GROUP_SIZE)', '--node-rank', rank, '--master-addr', '$(LWS_LEADER_ADDRESS)', ...extra],
        // The release whose multi-node layout the stand-in has recorded (test/fixtures/engines/vllm-0.34.0/multinode).
        env: [{ name: 'STANDIN_ENGINE_VERSION', value: '0.34.0' }],
        // A headless worker runs no server (vLLM's run_headless): nothing to probe, as the rendered models do.
        ...(extra.includes('--headless') ? {} : { ports: [{ name: 'http', containerPort: 8000 }], readinessProbe: { httpGet: { path: '/health', port: 8000 }, periodSeconds: 1 } }),
        resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
      }],
    },
  };
}

const LWS = {
  apiVersion: `${LWS_GROUP}/v1`, kind: 'LeaderWorkerSet', metadata: { name: NAME, namespace: NS },
  spec: {
    replicas: 1,
    startupPolicy: 'LeaderReady',
    leaderWorkerTemplate: {
      size: 2,
      leaderTemplate: engineTemplate('0', []),
      workerTemplate: engineTemplate('$(LWS_WORKER_INDEX)', ['--headless']),
    },
  },
};

const ready = (p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
const envOf = (p: any) => Object.fromEntries((p.spec.containers[0].env ?? []).map((e: any) => [e.name, e.value]));

runIf(can.ok ? 'on a real node: the real LeaderWorkerSet controller runs a two-pod group' : `on a real node: LeaderWorkerSet: SKIPPED, ${can.why}`, () => {
  let cp: ControlPlane;
  let node: TestNode;
  let lws: RunningLws;
  const { kubectl, getJson, explain } = clusterClient(() => cp, () => `--- lws-controller-manager\n${lws?.logTail(20)}\n--- kubelet\n${node?.logTail('kubelet', 15)}`);
  const explained = async <T>(p: Promise<T>) => p.catch(async (e) => { throw await explain(e); });

  beforeAll(async () => {
    // Only what these pods run: the sandbox and the stand-in (importing the rest costs time).
    const images = buildNodeImages().filter((i) => i.name === PAUSE_IMAGE || i.name === ENGINE_STANDIN_IMAGE);
    cp = await startControlPlane({ forPods: true });
    await installLwsCrds(cp);
    // Side by side; both are kept when one fails, so afterAll stops what did start.
    const [l, n] = await Promise.allSettled([startLws(cp), startNode(cp, { images })]);
    if (l.status === 'fulfilled') lws = l.value;
    if (n.status === 'fulfilled') node = n.value;
    for (const r of [l, n]) if (r.status === 'rejected') throw r.reason;
    await kubectl(['create', 'namespace', NS]);
  }, 600_000);
  afterAll(async () => {
    await lws?.stop();
    await node?.stop();
    await cp?.stop();
  }, 120_000);

  test('the webhooks default the LeaderWorkerSet; the controller makes the leader and worker StatefulSets, labelled pods with LWS_* env, and the group becomes ready', async () => {
    await kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(LWS));
    const created = await getLws(cp, NS, NAME);
    // Defaults from the mutating webhook (and the CRD schema), as upstream installs it.
    expect(created.spec.leaderWorkerTemplate.restartPolicy).toBe('RecreateGroupOnPodRestart');
    expect(created.spec.startupPolicy).toBe('LeaderReady');
    expect(created.spec.networkConfig).toEqual({ subdomainPolicy: 'Shared' });
    expect(created.spec.rolloutStrategy).toEqual({ type: 'RollingUpdate', rollingUpdateConfiguration: { maxUnavailable: 1, maxSurge: 0, partition: 0 } });

    const status = await explained(waitForLwsReadyReplicas(cp, NS, NAME, 1));
    expect(status.status.replicas).toBe(1);
    expect(status.status.conditions.find((c: any) => c.type === 'Available')?.status).toBe('True');

    // The leader StatefulSet (one pod per group), owned by the LWS; the group's worker StatefulSet, owned by its leader pod.
    const leaderSts = await getJson(['-n', NS, 'get', 'statefulset', NAME]);
    expect(leaderSts.spec.replicas).toBe(1);
    expect(leaderSts.metadata.ownerReferences.map((o: any) => [o.kind, o.name])).toEqual([['LeaderWorkerSet', NAME]]);
    const workerSts = await getJson(['-n', NS, 'get', 'statefulset', `${NAME}-0`]);
    expect(workerSts.spec.replicas).toBe(1);
    expect(workerSts.metadata.ownerReferences.map((o: any) => [o.kind, o.name])).toEqual([['Pod', `${NAME}-0`]]);
    const svc = await getJson(['-n', NS, 'get', 'service', NAME]);
    expect(svc.spec.clusterIP).toBe('None');

    const pods = await lwsPods(cp, NS, NAME);
    const byName = Object.fromEntries(pods.map((p) => [p.metadata.name, p]));
    expect(Object.keys(byName).sort()).toEqual([`${NAME}-0`, `${NAME}-0-1`]);
    const [leader, worker] = [byName[`${NAME}-0`], byName[`${NAME}-0-1`]];
    for (const [p, index] of [[leader, '0'], [worker, '1']] as const) {
      expect(p.spec.nodeName).toBe(NODE_NAME);
      expect(ready(p)).toBe(true);
      expect(p.status.containerStatuses[0].restartCount).toBe(0);
      expect(p.metadata.labels).toMatchObject({ [LWS_LABELS.name]: NAME, [LWS_LABELS.groupIndex]: '0', [LWS_LABELS.workerIndex]: index });
      expect(p.metadata.labels[LWS_LABELS.groupKey]).toBe(leader.metadata.labels[LWS_LABELS.groupKey]);
      expect(envOf(p)).toMatchObject({ LWS_LEADER_ADDRESS: `${NAME}-0.${NAME}.${NS}`, LWS_GROUP_SIZE: '2', LWS_WORKER_INDEX: index });
    }
    // The kubelet expanded the injected variables into the command line, and vLLM's recorded parser accepted it.
    const workerLog = await kubectl(['-n', NS, 'logs', `${NAME}-0-1`]);
    expect(workerLog).toContain('command line accepted by its recorded parser');
    // The stand-in takes its pod from `--node-rank $(LWS_WORKER_INDEX)` as expanded by the kubelet (vLLM does the same),
    // and as a headless worker serves nothing, like run_headless.
    expect(workerLog).toContain('pod 1 (worker) of vllm 0.34.0 mode mp');
    expect(workerLog).toContain('no HTTP server in this pod');

    // LeaderReady: the worker StatefulSet appears only once the leader pod is Ready.
    const leaderReadyAt = Date.parse(leader.status.conditions.find((c: any) => c.type === 'Ready').lastTransitionTime);
    expect(Date.parse(workerSts.metadata.creationTimestamp)).toBeGreaterThanOrEqual(leaderReadyAt);

    // The leader address resolves in cluster DNS (the headless Service and the pod's hostname/subdomain) to the leader pod.
    const resolver = new Resolver();
    resolver.setServers([node.dnsIp]);
    expect(await resolver.resolve4(`${NAME}-0.${NAME}.${NS}.svc.cluster.local`)).toEqual([leader.status.podIP]);
  }, 300_000);

  test('deleting the worker pod recreates the whole group (RecreateGroupOnPodRestart): readiness drops, then recovers with new pods', async () => {
    const before = Object.fromEntries((await lwsPods(cp, NS, NAME)).map((p) => [p.metadata.name, p.metadata.uid]));
    const workerStsUid = (await getJson(['-n', NS, 'get', 'statefulset', `${NAME}-0`])).metadata.uid;
    expect(Object.keys(before).sort()).toEqual([`${NAME}-0`, `${NAME}-0-1`]);

    await kubectl(['-n', NS, 'delete', 'pod', `${NAME}-0-1`, '--wait=false']);
    await explained(waitFor('the group not ready (readyReplicas 0)', async () => ((await getLws(cp, NS, NAME))?.status?.readyReplicas ?? 0) === 0, 60_000));
    await explained(waitForLwsReadyReplicas(cp, NS, NAME, 1));

    const after = await explained(waitFor('two new Ready pods', async () => {
      const ps = await lwsPods(cp, NS, NAME);
      return ps.length === 2 && ps.every((p) => ready(p) && !p.metadata.deletionTimestamp) ? ps : undefined;
    }));
    const uids = Object.fromEntries(after.map((p) => [p.metadata.name, p.metadata.uid]));
    expect(Object.keys(uids).sort()).toEqual([`${NAME}-0`, `${NAME}-0-1`]);
    // Not only the deleted worker: the leader was deleted too, and with it (foreground) the group's worker StatefulSet.
    expect(uids[`${NAME}-0`]).not.toBe(before[`${NAME}-0`]);
    expect(uids[`${NAME}-0-1`]).not.toBe(before[`${NAME}-0-1`]);
    expect((await getJson(['-n', NS, 'get', 'statefulset', `${NAME}-0`])).metadata.uid).not.toBe(workerStsUid);
    const events = await getJson(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.kind=LeaderWorkerSet,involvedObject.name=${NAME},reason=RecreateGroup`]);
    expect(events.items.map((e: any) => e.message)).toContain(`Worker pod ${NAME}-0-1 failed, deleted leader pod ${NAME}-0 to recreate group 0`);
  }, 300_000);
});
