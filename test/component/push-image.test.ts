/**
 * tools/push-image.sh: the controller image built without Docker (tools/build-controller-image.sh, the image the
 * node tests run) and pushed with crane (tools/build-crane.sh) to a local registry (`crane registry serve`, the
 * OCI distribution API in go-containerregistry's pkg/registry, which checks every blob's digest on upload).
 * The manifest the registry serves under the tag, fetched over its HTTP API here, has the digest of the OCI
 * layout a second, independent build writes: the build is reproducible and the push changes nothing.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from '../../src/check/check-dashboards';
import { craneBin, REPO } from '../harness/binaries';
import { waitFor } from '../harness/wait';

const CRANE = craneBin();
const why = process.getuid?.() !== 0 ? 'not root (umoci unpack)' : !fs.existsSync('/usr/bin/umoci') ? 'umoci missing (tools/setup.sh)'
  : !CRANE ? 'crane not built (tools/build-crane.sh)' : !fs.existsSync(path.join(REPO, 'lib/src/cli/main.js')) ? 'npm run build first' : '';
if (why && process.env.CI) throw new Error(`the image push test must run in CI: ${why}`);
const describeIf = why ? describe.skip : describe;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describeIf(why ? `tools/push-image.sh: SKIPPED, ${why}` : 'tools/push-image.sh, to a local registry', () => {
  let registry: ChildProcess;
  let host: string;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-push-'));

  beforeAll(async () => {
    host = `127.0.0.1:${await freePort()}`;
    registry = spawn(CRANE!, ['registry', 'serve', '--address', host], { stdio: 'ignore' });
    await waitFor('the registry', async () => (await fetch(`http://${host}/v2/`).catch(() => undefined))?.status === 200, 30_000, 250);
  });
  afterAll(() => {
    registry?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the pushed manifest has the OCI layout\'s digest, and a second build gives the same digest', () => {
    const ref = `${host}/team/inference-monitoring-controller:0.1.0-test`;
    let t = Date.now();
    const out = execFileSync('bash', [path.join(REPO, 'tools/push-image.sh'), ref], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const pushSeconds = (Date.now() - t) / 1000;
    const printed = out.trim().split('\n').pop()!;
    expect(printed).toMatch(new RegExp(`^${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@sha256:[0-9a-f]{64}$`));
    const pushedDigest = printed.split('@')[1];

    // A second build, from the same checkout, into a layout of its own (another tag: the tag is not in the manifest).
    t = Date.now();
    const layout = path.join(dir, 'layout');
    const built = execFileSync('bash', [path.join(REPO, 'tools/build-controller-image.sh'), layout, 'other-tag'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop();
    const buildSeconds = (Date.now() - t) / 1000;
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: any) => [m.mediaType, m.annotations['org.opencontainers.image.ref.name']])).toEqual([[OCI_MANIFEST, 'other-tag']]);
    const layoutDigest = index.manifests[0].digest;
    expect(built).toBe(layoutDigest);
    expect(pushedDigest).toBe(layoutDigest);
    console.log(`push-image.sh (build + push) ${pushSeconds.toFixed(0)} s, second build ${buildSeconds.toFixed(0)} s; digest ${layoutDigest}`);
  }, 300_000);

  test('the registry serves the manifest under the tag at that digest; its config and layer are the layout\'s blobs', async () => {
    const layout = path.join(dir, 'layout');
    const layoutDigest = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest as string;
    const blob = (d: string) => fs.readFileSync(path.join(layout, 'blobs', ...d.split(':')));
    const r = await fetch(`http://${host}/v2/team/inference-monitoring-controller/manifests/0.1.0-test`, { headers: { Accept: OCI_MANIFEST } });
    expect(r.status).toBe(200);
    const body = Buffer.from(await r.arrayBuffer());
    expect([r.headers.get('content-type'), sha256(body), r.headers.get('docker-content-digest')]).toEqual([OCI_MANIFEST, layoutDigest, layoutDigest]);
    expect(body.equals(blob(layoutDigest))).toBe(true);
    const manifest = JSON.parse(body.toString());
    expect(manifest.layers).toHaveLength(1);
    for (const d of [manifest.config.digest, manifest.layers[0].digest]) {
      const b = Buffer.from(await (await fetch(`http://${host}/v2/team/inference-monitoring-controller/blobs/${d}`)).arrayBuffer());
      expect(sha256(b)).toBe(d);
      expect(b.equals(blob(d))).toBe(true);
    }
    // What the Dockerfile's image runs: Node as user 65532 in /app, `controller` by default; its time is SOURCE_DATE_EPOCH's (0).
    const config = JSON.parse(blob(manifest.config.digest).toString());
    expect({ os: config.os, architecture: config.architecture, created: config.created, ...config.config }).toMatchObject({
      os: 'linux', architecture: 'amd64', created: '1970-01-01T00:00:00Z', User: '65532:65532', WorkingDir: '/app',
      Entrypoint: ['/nodejs/bin/node', 'bin/inference-monitoring.js'], Cmd: ['controller'],
    });
    expect(config.history.every((h: any) => h.created === '1970-01-01T00:00:00Z')).toBe(true);
    // crane reads the same digest back.
    expect(execFileSync(CRANE!, ['digest', `${host}/team/inference-monitoring-controller:0.1.0-test`], { encoding: 'utf8' }).trim()).toBe(layoutDigest);
  }, 60_000);

  test('a reference without a tag, or with a digest, is refused with one line', () => {
    for (const [ref, msg] of [[`${host}/imc`, 'give REGISTRY/NAME:TAG'], [`${host}/imc:1@sha256:${'0'.repeat(64)}`, 'not a digest']]) {
      let err = '';
      try { execFileSync('bash', [path.join(REPO, 'tools/push-image.sh'), ref], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); } catch (e: any) { err = e.stderr; }
      expect(err.trim().split('\n')).toEqual([expect.stringContaining(msg)]);
    }
  });
});
