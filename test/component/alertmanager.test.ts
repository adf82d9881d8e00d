/**
 * The real Alertmanager (tools/build-alertmanager.sh) delivers to a webhook that stands for a
 * person's pager: one grouped firing notification for an alert posted to its v2 API, then a resolved
 * one when the alert ends; amtool check-config accepts the configuration and rejects a broken one.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parse } from 'yaml';
import { recommendedAlertmanagerConfig } from '../../src/alerts/alertmanager-config';
import { configYaml } from '../../src/config-yaml';
import { amtool, haveAlertmanager, RunningAlertmanager, startAlertmanager } from '../harness/alertmanager';
import { startWebhookReceiver, WebhookReceiver } from '../harness/webhook-receiver';

const runIf = haveAlertmanager() ? describe : describe.skip;

const config = (webhookUrl: string) => `
route:
  receiver: pager
  group_by: [namespace, model, alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pager
    webhook_configs:
      - url: ${JSON.stringify(webhookUrl)}
        send_resolved: true
`;

runIf('a real Alertmanager delivering to a webhook', () => {
  let hook: WebhookReceiver;
  let am: RunningAlertmanager;
  let tmp: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-am-test-'));
    hook = await startWebhookReceiver();
    am = await startAlertmanager({ config: config(hook.url) });
  });
  afterAll(async () => {
    await am?.stop();
    await hook?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const labels = { alertname: 'InferenceModelDown', namespace: 'llm', model: 'qwen', severity: 'critical' };
  const annotations = { summary: 'qwen in llm has no ready replica', runbook_url: 'https://example.invalid/runbooks/model-down' };
  const post = async (alert: object) => {
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([alert]),
    });
    if (res.status !== 200) throw new Error(`POST /api/v2/alerts: ${res.status} ${await res.text()}\n${am.logTail()}`);
  };

  test('one grouped firing notification, then a resolved one', async () => {
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    await post({ labels, annotations, startsAt, generatorURL: 'http://prometheus.invalid/graph' });

    const firing = await hook.waitFor((n) => n.payload.status === 'firing', 20_000);
    expect(firing.payload).toMatchObject({
      version: '4', receiver: 'pager', status: 'firing',
      groupLabels: { namespace: 'llm', model: 'qwen', alertname: 'InferenceModelDown' },
      commonLabels: labels,
      commonAnnotations: annotations,
    });
    expect(Object.keys(firing.payload.groupLabels).sort()).toEqual(['alertname', 'model', 'namespace']);
    expect(firing.payload.alerts).toHaveLength(1);
    expect(firing.payload.alerts[0]).toMatchObject({ status: 'firing', labels, annotations });

    // Several group_intervals pass: still exactly one notification (repeat_interval is 1h).
    await new Promise((r) => setTimeout(r, 3500));
    expect(hook.received.filter((n) => n.payload.status === 'firing')).toHaveLength(1);
    expect(hook.received).toHaveLength(1);

    await post({ labels, annotations, startsAt, endsAt: new Date(Date.now() - 1000).toISOString() });
    const resolved = await hook.waitFor((n) => n.payload.status === 'resolved', 20_000);
    expect(resolved.payload).toMatchObject({
      status: 'resolved', groupKey: firing.payload.groupKey,
      groupLabels: firing.payload.groupLabels, commonLabels: labels,
    });
    expect(resolved.payload.alerts).toHaveLength(1);
    expect(resolved.payload.alerts[0].status).toBe('resolved');
    expect(resolved.receivedAt).toBeGreaterThan(firing.receivedAt);
  }, 60_000);

  test('amtool check-config accepts the configuration and rejects a broken one', async () => {
    const good = path.join(tmp, 'good.yml');
    fs.writeFileSync(good, config(hook.url));
    const ok = await amtool(['check-config', good]);
    expect({ code: ok.code, out: ok.stdout + ok.stderr }).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('SUCCESS');

    const broken = path.join(tmp, 'broken.yml');
    fs.writeFileSync(broken, config(hook.url).replace('receiver: pager', 'receiver: nobody'));
    const bad = await amtool(['check-config', broken]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/undefined receiver "nobody"/);
  });

  describe('inference-monitoring alertmanager-config, checked by amtool check-config', () => {
    const BIN = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'alertmanager-config', ...args], { encoding: 'utf8' });
    const check = async (text: string, name: string) => {
      const f = path.join(tmp, `${name.replace(/[^a-z0-9]+/gi, '_')}.yml`);
      fs.writeFileSync(f, text);
      const r = await amtool(['check-config', f]);
      return { code: r.code, out: r.stdout + r.stderr };
    };

    test.each([
      ['--webhook-url', 'http://x'],
      ['--webhook-url', 'https://hooks.example.com/services/T000/B000?token=abc&x=%2F#frag'],
      ['--webhook-url', 'http://[::1]:9093/api'],
      ['--webhook-url', 'HTTPS://Pager.Example:443/'],
      ['--webhook-url', 'https://hooks.example.com/é'],
      ['--webhook-url-file', '/etc/alertmanager/secrets/oncall-webhook/url'],
      ['--webhook-url-file', 'relative/url'],
    ])('%s %s: printed, and amtool accepts it', async (flag, value) => {
      const r = cli(flag, value);
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      const checked = await check(r.stdout, `${flag}-${value}`);
      expect(checked).toMatchObject({ code: 0 });
      expect(checked.out).toContain('SUCCESS');
      const cfg = parse(r.stdout);
      expect(cfg.receivers[0].webhook_configs[0][flag === '--webhook-url' ? 'url' : 'url_file']).toBe(value);
    });

    // What amtool refuses, the command refuses first: one line naming the flag, nothing printed.
    test.each([
      ['not-a-url', /unsupported scheme ""/, 'must be an http:// or https:// URL'],
      ['ftp://x/y', /unsupported scheme "ftp"/, 'must be an http:// or https:// URL'],
      ['//x/y', /unsupported scheme ""/, 'must be an http:// or https:// URL'],
      ['http://', /missing host/, 'must name a host'],
      ['http:x', /missing host/, 'must be an http:// or https:// URL'],
      ['http://[x', /missing '\]' in host/, 'has a [ without ] in its host'],
      ['http://%zz/', /invalid URL escape "%zz"/, 'has a % that is not followed by two hex digits (escape it as %25)'],
      ['http://x/%', /invalid URL escape "%"/, 'has a % that is not followed by two hex digits (escape it as %25)'],
      ['http://x/a#%zz', /invalid URL escape "%zz"/, 'has a % that is not followed by two hex digits (escape it as %25)'],
      ['http://x y/', /invalid character " " in host name/, 'must not contain whitespace or control characters'],
      ['http://x\\y', /invalid character "\\\\" in host name/, 'must not contain a backslash'],
      ['http://x:abc/', /invalid port ":abc"/, 'has an invalid port "abc"'],
      ['http://x/\ny', /invalid control character/, 'must not contain whitespace or control characters'],
    ])('--webhook-url %j: amtool refuses the configuration, so the command refuses the flag', async (url, amtoolSays, rule) => {
      // The configuration the command printed before it checked the URL.
      const unchecked = configYaml({ ...recommendedAlertmanagerConfig({ webhook: { url: 'http://placeholder' } }), receivers: [{ name: 'inference-oncall', webhook_configs: [{ url, send_resolved: true }] }] });
      const checked = await check(unchecked, `bad-${url}`);
      expect(checked.code).not.toBe(0);
      expect(checked.out).toMatch(amtoolSays);
      const r = cli('--webhook-url', url);
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 1, stdout: '', stderr: `error: --webhook-url ${JSON.stringify(url)}: ${rule}\n` });
    });

    test.each([
      ['http://x:99999/', 'has port 99999, beyond 65535'],
      ['http://x/ y', 'must not contain whitespace or control characters'],
    ])('--webhook-url %j: amtool lets it through; the command refuses it anyway (no connection to a port beyond 65535; whitespace is a paste error)', async (url, rule) => {
      expect(cli('--webhook-url', url)).toMatchObject({ status: 1, stdout: '', stderr: `error: --webhook-url ${JSON.stringify(url)}: ${rule}\n` });
    });

    test('an empty --webhook-url-file, both flags or neither: one line, exit 1', () => {
      expect(cli('--webhook-url-file', '')).toMatchObject({ status: 1, stdout: '', stderr: 'error: --webhook-url-file "": must not be empty\n' });
      expect(cli('--webhook-url', 'http://x', '--webhook-url-file', '/f')).toMatchObject({ status: 1, stderr: 'error: give exactly one of --webhook-url and --webhook-url-file\n' });
      expect(cli()).toMatchObject({ status: 1, stderr: 'error: give exactly one of --webhook-url and --webhook-url-file\n' });
    });
  });
});
