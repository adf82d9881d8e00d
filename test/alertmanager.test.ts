/**
 * The real Alertmanager (tools/build-alertmanager.sh) delivers to a webhook that stands for a
 * person's pager: one grouped firing notification for an alert posted to its v2 API, then a resolved
 * one when the alert ends; amtool check-config accepts the configuration and rejects a broken one.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { amtool, haveAlertmanager, RunningAlertmanager, startAlertmanager } from './harness/alertmanager';
import { startWebhookReceiver, WebhookReceiver } from './harness/webhook-receiver';

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
});
