/**
 * What the controller's owned-object caches keep of a child (childEntry):
 * after the reconciler has compared it (settle) only a summary stays, a
 * status-only update keeps that verdict, and any change of content brings the
 * content back for another comparison.
 */
import { childEntry, childStub, compactObject, desiredDigest, settle } from '../../src/controller/compact';
import { KubeObject } from '../../src/controller/kube';

const deployment = (image: string, rv: string, status: Record<string, unknown>): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'demo-llama', namespace: 'llm', resourceVersion: rv, generation: 1, labels: { 'monitoring.inference.dev/owner-uid': 'u1' }, managedFields: [{ manager: 'kube-controller-manager', time: `t${rv}` }] },
  spec: { replicas: 1, template: { spec: { containers: [{ name: 'engine', image, terminationMessagePath: '/dev/termination-log' }] } } },
  status: { replicas: 1, readyReplicas: status.readyReplicas, observedGeneration: 1, conditions: [{ type: 'Available', message: 'x'.repeat(200) }] },
});

test('a compared child keeps only a summary; a status update keeps the verdict; a content change brings the content back', () => {
  const desired = compactObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'demo-llama', namespace: 'llm' }, spec: { template: { spec: { containers: [{ name: 'engine', image: 'vllm:1' }] } } } });
  const first = childEntry(deployment('vllm:1', '10', { readyReplicas: 0 }));
  expect(first.content?.spec.template.spec.containers[0].image).toBe('vllm:1');
  expect(first.content?.metadata.managedFields).toBeUndefined();
  expect(first.satisfies).toBeUndefined();

  settle(first, desiredDigest(desired));
  expect(first.content).toBeUndefined();
  // What readiness, pruning and the owner index read is still there.
  expect(first).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'demo-llama', namespace: 'llm', resourceVersion: '10', generation: 1, labels: { 'monitoring.inference.dev/owner-uid': 'u1' } }, spec: { replicas: 1 }, status: { replicas: 1, readyReplicas: 0, observedGeneration: 1 } });
  expect(first.status.conditions).toBeUndefined();

  const statusOnly = childEntry(deployment('vllm:1', '11', { readyReplicas: 1 }), first);
  expect(statusOnly.satisfies).toBe(desiredDigest(desired));
  expect(statusOnly.content).toBeUndefined();
  expect(statusOnly.status.readyReplicas).toBe(1);

  const edited = childEntry(deployment('vllm:hacked', '12', { readyReplicas: 1 }), statusOnly);
  expect(edited.satisfies).toBeUndefined();
  expect(edited.content?.spec.template.spec.containers[0].image).toBe('vllm:hacked');
});

test('desired digests differ when any byte of a long string differs, though the compacted object keeps only its hash', () => {
  const cm = (data: string) => compactObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dash' }, data: { 'd.json': data } });
  const long = 'a'.repeat(4096);
  expect(cm(long).data['d.json']).not.toContain('aaaa');
  expect(desiredDigest(cm(long))).toBe(desiredDigest(cm(long)));
  expect(desiredDigest(cm(long))).not.toBe(desiredDigest(cm(`${long.slice(0, -1)}b`)));
});

test('an object the reconciler never compares keeps a stub of the same size whatever its own size, and no resourceVersion', () => {
  const junk = (keys: number): KubeObject => ({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'junk-1', namespace: 'tenant', resourceVersion: '77', labels: { 'monitoring.inference.dev/owner-uid': 'not-a-resource', other: 'x' }, annotations: { a: 'y'.repeat(4096) } },
    data: Object.fromEntries(Array.from({ length: keys }, (_, k) => [`k${k}`, 'v'.repeat(480)])),
  });
  const small = childStub(junk(1), 'monitoring.inference.dev/owner-uid');
  const large = childStub(junk(2000), 'monitoring.inference.dev/owner-uid');
  expect(large).toEqual(small);
  expect(large).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'junk-1', namespace: 'tenant', labels: { 'monitoring.inference.dev/owner-uid': 'not-a-resource' } }, contentDigest: '', stub: true });
  expect(JSON.stringify(large).length).toBeLessThan(300);
});
