/**
 * Where the apiserver is and how to authenticate to it.
 *
 * The in-cluster service account and kubeconfigs with static credentials
 * (bearer token, token file, client certificate, CA) are read here. A
 * kubeconfig that runs a plugin (exec, auth-provider), goes through a proxy,
 * uses basic auth or is merged from several files goes to
 * @kubernetes/client-node's KubeConfig, which is loaded only then. Loading
 * client-node costs ~50 MiB RSS, because it pulls its whole generated API in.
 * That is a fifth of the controller's memory budget, spent for a few fields of YAML.
 *
 * One keep-alive agent serves every request. client-node builds a new agent,
 * and re-reads the CA file, for each request.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { load } from 'js-yaml';

/** What KubeApi needs of a connection; client-node's KubeConfig has the same shape. */
export interface KubeConnection {
  getCurrentCluster(): { readonly server: string } | null;
  /** Adds the agent (TLS) and the credentials to a request's options. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound service-account tokens rotate; the kubelet rewrites the file. Re-read it as often as client-go does. */
const TOKEN_FILE_TTL_MS = 60_000;

export interface StaticCredentials {
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly tlsServerName?: string;
}

/** A connection with fixed TLS material and a bearer token (literal or from a file). */
export class StaticConnection implements KubeConnection {
  private readonly agent: http.Agent;
  private token?: { value: string; readAt: number };

  constructor(private readonly creds: StaticCredentials) {
    this.agent = creds.server.startsWith('http:')
      ? new http.Agent({ keepAlive: true })
      : new https.Agent({ keepAlive: true, ca: creds.ca, cert: creds.cert, key: creds.key, servername: creds.tlsServerName,
        ...(creds.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}) });
  }

  getCurrentCluster(): { server: string } {
    return { server: this.creds.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    opts.agent = this.agent;
    const token = this.bearer();
    if (token) opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` };
  }

  private bearer(): string | undefined {
    if (this.creds.token) return this.creds.token;
    if (!this.creds.tokenFile) return undefined;
    const now = Date.now();
    if (!this.token || now - this.token.readAt > TOKEN_FILE_TTL_MS) {
      this.token = { value: fs.readFileSync(this.creds.tokenFile, 'utf8').trim(), readAt: now };
    }
    return this.token.value;
  }
}

/** The in-cluster service account, as client-go's rest.InClusterConfig reads it; undefined outside a pod. */
export function inClusterCredentials(dir = SERVICE_ACCOUNT, env = process.env): StaticCredentials | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !fs.existsSync(`${dir}/token`)) return undefined;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${hostPart}:${port}`, ca: fs.readFileSync(`${dir}/ca.crt`), tokenFile: `${dir}/token` };
}

type Named<T> = { name: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Named<{ context: { cluster: string; user: string } }>[];
  clusters?: Named<{ cluster: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

/** User and cluster fields that need client-node (plugins, proxies, basic auth, impersonation). */
const NEEDS_CLIENT_NODE = { user: ['exec', 'auth-provider', 'username', 'password', 'as', 'as-groups', 'as-user-extra'], cluster: ['proxy-url'] };

/**
 * Static credentials of a kubeconfig's current context, or undefined when
 * only client-node can authenticate with it (see NEEDS_CLIENT_NODE).
 * Relative file paths resolve against the kubeconfig's directory, as kubectl does.
 */
export function kubeconfigCredentials(file: string): StaticCredentials | undefined {
  let doc: KubeconfigFile;
  try {
    doc = (load(fs.readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const at = (p: unknown) => (typeof p === 'string' ? path.resolve(path.dirname(file), p) : undefined);
  const bytes = (filePath: unknown, data: unknown) => (typeof data === 'string' ? Buffer.from(data, 'base64') : at(filePath) ? fs.readFileSync(at(filePath)!) : undefined);
  const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  if (!context) throw new Error(`${file}: current-context ${JSON.stringify(doc['current-context'])} is not among its contexts`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw new Error(`${file}: cluster ${JSON.stringify(context.cluster)} of context ${JSON.stringify(doc['current-context'])} has no server`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if (NEEDS_CLIENT_NODE.user.some((k) => k in user) || NEEDS_CLIENT_NODE.cluster.some((k) => k in cluster)) return undefined;
  return {
    server: cluster.server.replace(/\/$/, ''),
    ca: bytes(cluster['certificate-authority'], cluster['certificate-authority-data']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    tlsServerName: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    cert: bytes(user['client-certificate'], user['client-certificate-data']),
    key: bytes(user['client-key'], user['client-key-data']),
    token: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: at(user.tokenFile ?? user['token-file']),
  };
}

/** client-node's KubeConfig for what this module does not read itself. */
function clientNodeConnection(file?: string): KubeConnection {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { KubeConfig } = require('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file); else kc.loadFromDefault();
  return kc;
}

/**
 * The connection kubectl would use: the given file, else $KUBECONFIG, else
 * the in-cluster service account, else ~/.kube/config.
 */
export function loadConnection(file?: string, env = process.env): KubeConnection {
  const candidates = file ? [file] : env.KUBECONFIG ? env.KUBECONFIG.split(path.delimiter).filter(Boolean) : [];
  if (candidates.length > 1) return clientNodeConnection(); // merged kubeconfigs follow client-node's merge rules
  if (candidates.length === 1) {
    const creds = kubeconfigCredentials(candidates[0]);
    return creds ? new StaticConnection(creds) : clientNodeConnection(candidates[0]);
  }
  const inCluster = inClusterCredentials(SERVICE_ACCOUNT, env);
  if (inCluster) return new StaticConnection(inCluster);
  const home = path.join(os.homedir(), '.kube', 'config');
  if (fs.existsSync(home)) {
    const creds = kubeconfigCredentials(home);
    return creds ? new StaticConnection(creds) : clientNodeConnection(home);
  }
  return clientNodeConnection();
}
