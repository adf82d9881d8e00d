/**
 * The controller's connection to a real kube-apiserver, without and with
 * @kubernetes/client-node: static kubeconfigs (token, relative CA path) and
 * the in-cluster service account are read by connection.ts; an exec plugin
 * goes to client-node. Each one must authenticate as the identity it names.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KubeConnection, StaticConnection, inClusterCredentials, kubeconfigCredentials, loadConnection } from '../../src/controller/connection';
import { KubeApi } from '../../src/controller/kube';
import { ControlPlane, haveK8sBinaries, startControlPlane } from '../harness/control-plane';

const describeIf = haveK8sBinaries() ? describe : describe.skip;

/** Who the apiserver thinks the caller is. */
async function whoAmI(conn: KubeConnection): Promise<string> {
  const review = await new KubeApi(conn).request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  return review.status.userInfo.username;
}

describeIf('connection to a real kube-apiserver', () => {
  let cp: ControlPlane;
  let dir: string;
  let saToken: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-conn-'));
    fs.copyFileSync(`${cp.dir}/pki/apiserver.crt`, `${dir}/ca.crt`);
    await cp.request('POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'probe' } });
    const tr = await cp.request('POST', '/api/v1/namespaces/default/serviceaccounts/probe/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    expect(tr.status).toBe(201);
    saToken = tr.body.status.token;
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const kubeconfig = (name: string, user: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      'clusters:', '- name: k', `  cluster: {server: "${cp.server}", certificate-authority: ca.crt}`,
      'users:', '- name: u', `  user: ${user}`,
      'contexts:', '- name: c', '  context: {cluster: k, user: u}', '',
    ].join('\n'));
    return file;
  };

  test('a kubeconfig with a token and a CA path relative to the file is read without client-node', async () => {
    const file = kubeconfig('token.yaml', `{token: "${saToken}"}`);
    expect(kubeconfigCredentials(file)).toMatchObject({ server: cp.server, token: saToken });
    const conn = loadConnection(file);
    expect(conn).toBeInstanceOf(StaticConnection);
    expect(await whoAmI(conn)).toBe('system:serviceaccount:default:probe');
  });

  test('the in-cluster service account (token file, CA) is read without client-node', async () => {
    const sa = path.join(dir, 'serviceaccount');
    fs.mkdirSync(sa);
    fs.writeFileSync(`${sa}/token`, `${saToken}\n`);
    fs.copyFileSync(`${dir}/ca.crt`, `${sa}/ca.crt`);
    const { hostname, port } = new URL(cp.server);
    const creds = inClusterCredentials(sa, { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port });
    expect(creds).toMatchObject({ server: cp.server, tokenFile: `${sa}/token` });
    expect(await whoAmI(new StaticConnection(creds!))).toBe('system:serviceaccount:default:probe');
    expect(inClusterCredentials(path.join(dir, 'absent'), { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port })).toBeUndefined();
  });

  test('an exec plugin goes to client-node, which runs it', async () => {
    const plugin = path.join(dir, 'credential-plugin.sh');
    fs.writeFileSync(plugin, `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${saToken}"}}'\n`, { mode: 0o755 });
    const file = kubeconfig('exec.yaml', `{exec: {apiVersion: client.authentication.k8s.io/v1, command: "${plugin}", interactiveMode: Never}}`);
    expect(kubeconfigCredentials(file)).toBeUndefined();
    const conn = loadConnection(file);
    expect(conn).not.toBeInstanceOf(StaticConnection);
    expect(await whoAmI(conn)).toBe('system:serviceaccount:default:probe');
  });

  test('a kubeconfig whose current context is missing, or an empty one, is an error that names the file', () => {
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, 'apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n');
    expect(() => loadConnection(file)).toThrow(`${file}: current-context "nowhere" is not among its contexts`);
    fs.writeFileSync(file, '');
    expect(() => loadConnection(file)).toThrow(`${file}: expected a document, but the input is empty`);
  });
});
