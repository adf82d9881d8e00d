/**
 * The rules Argo CD v3.6.1 applies when it syncs and deletes an Application, ported from its code so that a unit-level
 * test can apply them to our Applications without a cluster. Each function names the code it follows, as
 * `<file>:<lines>` in the modules github.com/argoproj/argo-cd/v3@v3.6.1 (A) and
 * github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.1 (G, the sync engine Argo CD v3.6.1 is built with).
 * test/cluster/argocd-sync.test.ts runs that code itself (tools/argocd-sync) against a real kube-apiserver.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO } from './binaries';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> }; spec?: any; [k: string]: unknown };

export const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';
export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
export const isCrd = (o: K8sObject) => o.kind === 'CustomResourceDefinition' && groupOf(o.apiVersion) === 'apiextensions.k8s.io';

/** An option of `argocd.argoproj.io/sync-options` (comma-separated): G pkg/sync/resource/annotations.go, HasAnnotationOption / GetAnnotationOptionValue. */
export function annotationOptionValue(o: K8sObject, key: string): string | undefined {
  for (const opt of (o.metadata.annotations?.[SYNC_OPTIONS] ?? '').split(',').map((s) => s.trim())) {
    const [k, v] = opt.split('=');
    if (k === key) return v;
  }
  return undefined;
}

/** The value of `Key=value` among an Application's syncOptions: A pkg/apis/application/v1alpha1 SyncOptions.GetOptionValue. */
export function appOptionValue(app: any, key: string): string | undefined {
  for (const opt of app.spec.syncPolicy?.syncOptions ?? []) {
    const [k, v] = String(opt).split('=');
    if (k === key) return v;
  }
  return undefined;
}

/** G pkg/sync/syncwaves/waves.go:12-21: the sync-wave annotation, else the Helm hook weight, else 0. */
export function wave(o: K8sObject): number {
  const n = Number.parseInt(o.metadata.annotations?.[SYNC_WAVE] ?? '', 10);
  return Number.isNaN(n) ? 0 : n;
}

/**
 * Why a task is not valid in getSyncTasks, G pkg/sync/sync_context.go:1085-1130: the apiserver's discovery does not
 * serve the object's group/version/kind (G pkg/utils/kube/kube.go:202-220 answers NotFound), and neither the
 * Application's `SkipDryRunOnMissingResource=true` (:1108), nor the object's annotation of it, nor a CRD of its
 * group and kind among the Application's own objects (hasCRDOfGroupKind :1564-1571, isCRDOfGroupKind :1547-1562)
 * excuses it. One such task fails the whole operation before anything is applied, every wave included
 * ("one or more synchronization tasks are not valid", :498-519).
 */
export function invalidTasks(app: any, objects: K8sObject[], served: (apiVersion: string, kind: string) => boolean): K8sObject[] {
  const skipAll = (app.spec.syncPolicy?.syncOptions ?? []).includes('SkipDryRunOnMissingResource=true');
  const crdInSync = (o: K8sObject) => objects.some((c) => isCrd(c) && c.spec?.group === groupOf(o.apiVersion) && c.spec?.names?.kind === o.kind);
  return objects.filter((o) => !served(o.apiVersion, o.kind)
    && !(skipAll || annotationOptionValue(o, 'SkipDryRunOnMissingResource') === 'true' || crdInSync(o)));
}

/** G pkg/sync/sync_tasks.go:23-69, Helm's kind order; kinds not listed (custom resources) come last (0). */
const KIND_ORDER = ['Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget', 'ServiceAccount',
  'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'ClusterRole',
  'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role', 'RoleList', 'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet',
  'Pod', 'ReplicationController', 'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService'];
const kindOrder = (kind: string) => { const i = KIND_ORDER.indexOf(kind); return i < 0 ? 0 : i - KIND_ORDER.length; };

/** A sync task: the object and the wave it runs in (adjustDeps may move a dependency into an earlier wave). */
export interface SyncTask { readonly obj: K8sObject; wave: number }

/**
 * The order Argo CD runs a sync's tasks in, G pkg/sync/sync_tasks.go:86-139: by phase (no hooks here), wave, kind
 * order, name; then adjustDeps (:143-177) moves each Namespace before the first object in it and each CRD before
 * the first instance of its kind, giving it that object's wave. Waves run one after another; within a wave the
 * tasks are applied kind group by kind group in this order (G pkg/sync/sync_context.go:1752-1762), and an applied
 * CRD is waited for until Established (:1490-1495).
 */
export function syncOrder(objects: K8sObject[]): SyncTask[] {
  const tasks: SyncTask[] = objects.map((obj) => ({ obj, wave: wave(obj) }));
  tasks.sort((a, b) => a.wave - b.wave || kindOrder(a.obj.kind) - kindOrder(b.obj.kind) || (a.obj.metadata.name < b.obj.metadata.name ? -1 : a.obj.metadata.name > b.obj.metadata.name ? 1 : 0));
  const adjustDeps = (isDep: (o: K8sObject) => string | undefined, refDep: (o: K8sObject) => string | undefined) => {
    const first = new Map<string, number>();
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i];
      const dep = isDep(t.obj);
      if (dep !== undefined) {
        const index = first.get(dep);
        if (index !== undefined) {
          t.wave = tasks[index].wave;
          tasks.splice(i, 1);
          tasks.splice(index, 0, t);
          for (const [k, v] of first) if (v >= index) first.set(k, v + 1);
        }
      } else {
        const ref = refDep(t.obj);
        if (ref !== undefined && !first.has(ref)) first.set(ref, i);
      }
    }
  };
  adjustDeps((o) => (o.kind === 'Namespace' && groupOf(o.apiVersion) === '' ? o.metadata.name : undefined), (o) => o.metadata.namespace || undefined);
  adjustDeps((o) => (isCrd(o) && o.spec?.group && o.spec?.names?.kind ? `${o.spec.group}/${o.spec.names.kind}` : undefined), (o) => `${groupOf(o.apiVersion)}/${o.kind}`);
  return tasks;
}

/**
 * Whether cascade deletion of the Application deletes this live object of it, A controller/appcontroller.go:1321-1330
 * (shouldBeDeleted): never a CRD, never one whose `Delete` option (annotation, else the Application's syncOptions) is
 * `false`, never one with `helm.sh/resource-policy: keep`. The objects come from getPermittedAppLiveObjects
 * (:1332-1350): those the Application tracks. A namespace made by `CreateNamespace=true` is not tracked
 * (A controller/sync_namespace.go:38-42, setting the tracking id is commented out, argoproj/argo-cd#11196), so it
 * is not among them and is never deleted (nor pruned: it is not a target either).
 */
export function shouldBeDeleted(app: any, obj: K8sObject): boolean {
  const del = annotationOptionValue(obj, 'Delete') ?? appOptionValue(app, 'Delete');
  const keep = (obj.metadata.annotations?.['helm.sh/resource-policy'] ?? '').split(',').includes('keep');
  return !isCrd(obj) && del !== 'false' && !keep;
}

/** Whether a sync may prune this object once it leaves Git: `Prune=false` (annotation or app option) forbids it (G pkg/sync/sync_context.go pruneObject). */
export function mayPrune(app: any, obj: K8sObject): boolean {
  return (annotationOptionValue(obj, 'Prune') ?? appOptionValue(app, 'Prune')) !== 'false';
}

/** The Applications of one file under gitops/argocd/. */
export function applications(file: string): any[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, 'gitops', 'argocd', file), 'utf8')).map((d) => d.toJSON()).filter((o) => o);
}

/** A glob of Argo CD's directory include (`*`, `{a,b}`) as a RegExp over file names. */
function globRegExp(glob: string): RegExp {
  const src = glob.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')
    .replace(/\{([^}]*)\}/g, (_m, alts: string) => `(?:${alts.split(',').join('|')})`);
  return new RegExp(`^${src}$`);
}

/**
 * What an Application of this repository syncs, as Argo CD's repo-server generates it: for a directory source the
 * YAML files of its path matching `directory.include` (A reposerver/repository/repository.go findManifests); for the
 * plugin source the output of the plugin's generate command (cmp-plugin.yaml) run in the source path, with this
 * repository's CLI in place of the image's absolute paths.
 */
export function applicationObjects(app: any): K8sObject[] {
  const source = app.spec.source;
  const dir = path.join(REPO, source.path);
  if (source.plugin) {
    const cm = parse(fs.readFileSync(path.join(REPO, 'gitops', 'argocd', 'cmp-plugin.yaml'), 'utf8'));
    const plugin = parse(cm.data['plugin.yaml']);
    if (source.plugin.name !== `${plugin.metadata.name}-${plugin.spec.version}`) throw new Error(`plugin ${source.plugin.name} is not ${plugin.metadata.name}-${plugin.spec.version}`);
    const [, cli, ...args] = plugin.spec.generate.command as string[];
    if (cli !== '/app/bin/inference-monitoring.js') throw new Error(`unexpected plugin command ${cli}`);
    const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'inference-monitoring.js'), ...args, ...plugin.spec.generate.args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`plugin generate failed: ${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => d.toJSON()).filter((o) => o);
  }
  const include = globRegExp(source.directory?.include ?? '*');
  return fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f) && include.test(f)).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON()).filter((o) => o));
}
