/**
 * What the node tests ask of a cluster and of a Prometheus in it: kubectl that throws with its
 * stderr, JSON reads, pods by selector, an explanation of a failed wait (pods, events, more logs),
 * and Prometheus' HTTP API at a pod's address.
 */
import { ControlPlane } from './control-plane';

export interface ClusterClient {
  kubectl(args: string[], input?: string): Promise<string>;
  getJson(args: string[]): Promise<any>;
  podsOf(namespace: string, selector: string): Promise<any[]>;
  /** The error with the cluster's pods, the last events and `more()` (e.g. a component's log tail) appended. */
  explain(e: Error): Promise<Error>;
}

export function clusterClient(cp: () => ControlPlane, more: () => string = () => ''): ClusterClient {
  const kubectl = async (args: string[], input?: string) => {
    const r = await cp().kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const getJson = async (args: string[]) => JSON.parse(await kubectl([...args, '-o', 'json']));
  const podsOf = async (ns: string, selector: string) => (await getJson(['-n', ns, 'get', 'pods', '-l', selector])).items as any[];
  const explain = async (e: Error) => {
    const pods = await cp().kubectl(['get', 'pods', '-A', '-o', 'wide']);
    const events = await cp().kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp']);
    return new Error(`${e.message}\n${pods.stdout}\n${events.stdout.split('\n').slice(-25).join('\n')}\n${more()}`);
  };
  return { kubectl, getJson, podsOf, explain };
}

export interface PrometheusApi {
  /** `data` of a successful API answer; throws on any other. */
  api(apiPath: string): Promise<any>;
  /** An instant query's result vector. */
  query(q: string): Promise<any[]>;
  /** The `model` label values, sorted, that have a series of any of the given recorded metric names. */
  modelsWithSeries(names: readonly string[]): Promise<string[]>;
}

export function prometheusApi(url: () => string): PrometheusApi {
  const api = async (apiPath: string) => {
    const r = await fetch(`${url()}${apiPath}`);
    const body: any = await r.json();
    if (body.status !== 'success') throw new Error(`${apiPath}: ${JSON.stringify(body)}`);
    return body.data;
  };
  const query = async (q: string) => (await api(`/api/v1/query?query=${encodeURIComponent(q)}`)).result as any[];
  const modelsWithSeries = async (names: readonly string[]) => {
    const r = await query(`count by (model) ({__name__=~"${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')}"})`);
    return r.map((s) => s.metric.model as string).sort();
  };
  return { api, query, modelsWithSeries };
}
