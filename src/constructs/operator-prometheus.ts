import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Prometheus, PrometheusSpecAlertingAlertmanagersApiVersion, PrometheusSpecAlertingAlertmanagersPort, PrometheusSpecOtlpTranslationStrategy, PrometheusSpecStorageVolumeClaimTemplateSpecResourcesRequests } from '../imports/monitoring.coreos.com';
import { stackLabels } from '../names';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';
import { InferenceMonitoringSpec } from '../api/schema';

export interface OperatorPrometheusProps {
  /** Name of the Prometheus resource and its ServiceAccount. */
  readonly name: string;
  /** Namespace of the Prometheus resource. */
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value. */
  readonly instance: string;
  /** Labels the stack's PodMonitors and PrometheusRules carry; this Prometheus selects exactly those. */
  readonly selectLabels: Record<string, string>;
  /** The spec's `monitoring` section: every field the managed Prometheus uses is carried over. */
  readonly monitoring: InferenceMonitoringSpec['monitoring'];
  /** External labels, the same the managed Prometheus sets. */
  readonly externalLabels: Record<string, string>;
  /**
   * Service name of the stack's own Alertmanager (port `http`, its namespace) that alerts go to.
   * @default - none
   */
  readonly alertmanagerService?: string;
  /** Prometheus version prometheus-operator runs. */
  readonly version: string;
  /**
   * Namespaces it discovers pods in (read-only Role in each).
   * @default - its own namespace
   */
  readonly discoveryNamespaces?: readonly string[];
}

/**
 * A `Prometheus` resource of its own for operator mode (`createPrometheus`),
 * selecting only this stack's PodMonitors and rules, with the OTLP and
 * remote-write receivers on, and a ServiceAccount limited to pod discovery.
 * It runs the managed Prometheus' configuration in the operator's terms:
 * intervals, retention, storage, remote write, OTLP translation, out-of-order
 * window and exemplar storage.
 */
export class OperatorPrometheus extends Construct {
  public readonly resource: Prometheus;

  constructor(scope: Construct, id: string, props: OperatorPrometheusProps) {
    super(scope, id);
    const labels = stackLabels(props.instance, 'prometheus', 'prometheus');
    const m = props.monitoring;
    const sa = new kplus.ServiceAccount(this, 'sa', { metadata: { name: props.name, namespace: props.namespace, labels }, automountToken: true });
    for (const ns of [...new Set([props.namespace, ...(props.discoveryNamespaces ?? [])])].sort()) {
      const role = new kplus.Role(this, `discovery-${ns}`, { metadata: { name: props.name, namespace: ns, labels } });
      role.allowRead(kplus.ApiResource.PODS);
      new kplus.RoleBinding(this, `discovery-binding-${ns}`, { metadata: { name: props.name, namespace: ns, labels }, role }).addSubjects(sa);
    }
    this.resource = new Prometheus(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels },
      spec: {
        version: props.version,
        replicas: 1,
        serviceAccountName: props.name,
        scrapeInterval: m.interval,
        evaluationInterval: m.evaluationInterval,
        retention: m.retention,
        externalLabels: props.externalLabels,
        ...(m.storage.size ? {
          storage: {
            volumeClaimTemplate: {
              spec: {
                accessModes: ['ReadWriteOnce'],
                ...(m.storage.storageClassName ? { storageClassName: m.storage.storageClassName } : {}),
                resources: { requests: { storage: PrometheusSpecStorageVolumeClaimTemplateSpecResourcesRequests.fromString(m.storage.size) } },
              },
            },
          },
        } : {}),
        // The operator reads these Secrets (same namespace) and mounts them into its Prometheus.
        ...(m.remoteWrite?.length ? { remoteWrite: m.remoteWrite.map((r) => ({
          url: r.url,
          ...(r.name ? { name: r.name } : {}),
          ...(r.basicAuth ? { basicAuth: { username: r.basicAuth.usernameSecretRef, password: r.basicAuth.passwordSecretRef } } : {}),
          ...(r.bearerTokenSecretRef ? { authorization: { type: 'Bearer', credentials: r.bearerTokenSecretRef } } : {}),
          ...(r.tls ? { tlsConfig: {
            ...(r.tls.caSecretRef ? { ca: { secret: r.tls.caSecretRef } } : {}),
            ...(r.tls.certSecretRef ? { cert: { secret: r.tls.certSecretRef } } : {}),
            ...(r.tls.keySecretRef ? { keySecret: r.tls.keySecretRef } : {}),
          } } : {}),
        })) } : {}),
        ...(props.alertmanagerService ? {
          alerting: { alertmanagers: [{ namespace: props.namespace, name: props.alertmanagerService, port: PrometheusSpecAlertingAlertmanagersPort.fromString('http'), apiVersion: PrometheusSpecAlertingAlertmanagersApiVersion.V2 }] },
        } : {}),
        podMonitorSelector: { matchLabels: props.selectLabels },
        ruleSelector: { matchLabels: props.selectLabels },
        enableOtlpReceiver: true,
        enableRemoteWriteReceiver: true,
        enableFeatures: ['exemplar-storage'],
        otlp: {
          promoteResourceAttributes: [SERIES_MODEL_LABEL, SERIES_ENGINE_LABEL, 'namespace', 'pod'],
          translationStrategy: PrometheusSpecOtlpTranslationStrategy.UNDERSCORE_ESCAPING_WITH_SUFFIXES,
        },
        tsdb: { outOfOrderTimeWindow: '5m' },
        securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' as any } },
      },
    });
  }
}
