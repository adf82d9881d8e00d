import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The repository root: the nearest directory above this file with tools/versions.env (also when compiled into lib/). */
const REPO = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'tools', 'versions.env')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

export function versions(): Record<string, string> {
  const text = fs.readFileSync(path.join(REPO, 'tools', 'versions.env'), 'utf8');
  return Object.fromEntries(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=', 2) as [string, string]));
}

export function cacheRoot(): string {
  return process.env.CIM_CACHE ?? path.join(os.homedir(), '.cache', 'cdk8s-inference-monitoring');
}

/** Directory of prometheus and promtool built by tools/build-prometheus.sh. */
export function prometheusBinDir(): string {
  return process.env.CIM_PROMETHEUS_BIN ?? path.join(cacheRoot(), 'prometheus', versions().PROMETHEUS_MODULE_VERSION);
}

/** True when the binaries exist; in CI they must (`tools/setup.sh` builds them). */
export function havePrometheus(): boolean {
  const ok = ['prometheus', 'promtool'].every((b) => fs.existsSync(path.join(prometheusBinDir(), b)));
  if (!ok && process.env.CI) throw new Error(`prometheus binaries missing in ${prometheusBinDir()}: run tools/setup.sh`);
  return ok;
}

/** kube-score built by tools/build-kube-score.sh. */
export function kubeScoreBin(): string {
  const bin = path.join(cacheRoot(), 'kube-score', versions().KUBE_SCORE_VERSION, 'kube-score');
  if (!fs.existsSync(bin) && process.env.CI) throw new Error(`kube-score missing at ${bin}: run tools/setup.sh`);
  return bin;
}

export const SHARED = path.resolve(REPO, '..', 'shared');
export { REPO };

/** helm built by tools/build-helm.sh, or undefined when it has not been built (in CI it must be: `tools/setup.sh` builds it). */
export function helmBin(): string | undefined {
  const bin = process.env.CIM_HELM_BIN ?? path.join(cacheRoot(), `helm-${versions().HELM_VERSION}`, 'helm');
  if (fs.existsSync(bin)) return bin;
  if (process.env.CI) throw new Error(`helm missing at ${bin}: run tools/setup.sh`);
  return undefined;
}

/**
 * tools/argocd-sync (Argo CD v3.6.1's sync code) built by tools/build-argocd-sync.sh, keyed like the script by the
 * version and a hash of its source; undefined when it has not been built (in CI it must be: `tools/setup.sh` builds it).
 */
export function argocdSyncBin(): string | undefined {
  const src = path.join(REPO, 'tools', 'argocd-sync');
  const sum = crypto.createHash('sha256').update(Buffer.concat(['main.go', 'go.mod', 'go.sum'].map((f) => fs.readFileSync(path.join(src, f))))).digest('hex').slice(0, 12);
  const bin = process.env.CIM_ARGOCD_SYNC_BIN ?? path.join(cacheRoot(), `argocd-sync-${versions().ARGOCD_VERSION}`, sum, 'argocd-sync');
  if (fs.existsSync(bin)) return bin;
  if (process.env.CI) throw new Error(`argocd-sync missing at ${bin}: run tools/setup.sh`);
  return undefined;
}

/** crane built by tools/build-crane.sh, or undefined when it has not been built (in CI it must be: `tools/setup.sh` builds it). */
export function craneBin(): string | undefined {
  const bin = process.env.CIM_CRANE_BIN ?? path.join(cacheRoot(), `crane-${versions().CRANE_VERSION}`, 'crane');
  if (fs.existsSync(bin)) return bin;
  if (process.env.CI) throw new Error(`crane missing at ${bin}: run tools/setup.sh`);
  return undefined;
}
