/**
 * A stand-in for kube-prometheus-stack's Grafana dashboard sidecar (kiwigrid/k8s-sidecar), which cannot be installed
 * here: its image is on Docker Hub/quay.io and its Python source is not on PyPI. It does what that sidecar does with
 * the chart's default values (`grafana.sidecar.dashboards`: `label: grafana_dashboard`, `labelValue: "1"`,
 * `searchNamespace: ALL`, `folder: /tmp/dashboards`, `watchMethod: WATCH`, no `folderAnnotation`, no unique file
 * names), from its ServiceAccount in a pod: list and watch ConfigMaps with that label in every namespace; on ADDED or
 * MODIFIED write each data key as the file `<folder>/<key>`; on DELETED remove the files of the object's data keys.
 * Like the real one it keys files by data key alone, so two ConfigMaps with one key overwrite each other's file and
 * deleting either removes it (the collision the per-stack keys avoid). Not proven by it: Grafana's own import of the
 * files (no Grafana server runs here).
 */
import { Manifest } from '../../src/render';

/** The sidecar's loop, for `node -e` in the controller image (its Node.js, no dependencies). */
export const SIDECAR_SCRIPT = `
const fs = require('fs'), https = require('https'), path = require('path');
const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
const token = fs.readFileSync(SA + '/token', 'utf8'), ca = fs.readFileSync(SA + '/ca.crt');
const host = process.env.KUBERNETES_SERVICE_HOST, port = process.env.KUBERNETES_SERVICE_PORT;
const FOLDER = process.env.FOLDER, selector = encodeURIComponent(process.env.LABEL + '=' + process.env.LABEL_VALUE);
fs.mkdirSync(FOLDER, { recursive: true });
const opts = (p) => ({ host, port, path: p, ca, headers: { Authorization: 'Bearer ' + token } });
const write = (cm) => { for (const [k, v] of Object.entries(cm.data || {})) fs.writeFileSync(path.join(FOLDER, k), v); };
const remove = (cm) => { for (const k of Object.keys(cm.data || {})) fs.rmSync(path.join(FOLDER, k), { force: true }); };
const retry = () => setTimeout(() => list().catch(retry), 1000);
const list = () => new Promise((resolve, reject) => https.get(opts('/api/v1/configmaps?labelSelector=' + selector), (r) => {
  let b = ''; r.on('data', (d) => b += d); r.on('end', () => {
    try { const l = JSON.parse(b); l.items.forEach(write); watch(l.metadata.resourceVersion); resolve(); } catch (e) { reject(e); }
  });
}).on('error', reject));
function watch(rv) {
  https.get(opts('/api/v1/configmaps?watch=1&allowWatchBookmarks=false&labelSelector=' + selector + '&resourceVersion=' + rv), (r) => {
    let buf = '';
    r.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\\n')) >= 0;) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (!line) continue;
        const ev = JSON.parse(line);
        if (ev.type === 'ERROR') { r.destroy(); return retry(); }
        if (ev.type === 'DELETED') remove(ev.object); else write(ev.object);
        rv = ev.object.metadata.resourceVersion;
        console.log(ev.type, ev.object.metadata.namespace + '/' + ev.object.metadata.name);
      }
    });
    r.on('end', () => watch(rv));
  }).on('error', retry);
}
list().catch(retry);
setInterval(() => {}, 1 << 30);
`;

/** Prints `{ file: content }` of the folder as JSON. */
export const READ_FOLDER = `
const fs = require('fs'), path = require('path'), dir = process.argv[1];
console.log(JSON.stringify(Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]))));
`;

export const SIDECAR_FOLDER = '/tmp/dashboards';

export interface SidecarOptions {
  readonly namespace: string;
  /** An image with Node.js at /nodejs/bin/node (the controller's). */
  readonly image: string;
}

/** Its ServiceAccount, the chart's ClusterRole for the sidecar (ConfigMaps and Secrets, read) and the pod. */
export function sidecarManifests(o: SidecarOptions): Manifest[] {
  const name = 'grafana-sidecar-standin';
  const labels = { 'app.kubernetes.io/name': name };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: o.namespace } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'watch', 'list'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: [{ kind: 'ServiceAccount', name, namespace: o.namespace }] },
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: o.namespace, labels },
      spec: {
        serviceAccountName: name, terminationGracePeriodSeconds: 0,
        securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{
          name: 'grafana-sc-dashboard', image: o.image, imagePullPolicy: 'Never',
          command: ['/nodejs/bin/node', '-e', SIDECAR_SCRIPT],
          env: [{ name: 'LABEL', value: 'grafana_dashboard' }, { name: 'LABEL_VALUE', value: '1' }, { name: 'FOLDER', value: SIDECAR_FOLDER }],
          volumeMounts: [{ name: 'dashboards', mountPath: SIDECAR_FOLDER }],
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
        }],
        volumes: [{ name: 'dashboards', emptyDir: {} }],
      },
    },
  ];
}
