import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { StackComponent, StackComponentProps } from './component';
import { setResources } from './k8s-helpers';

export const DEFAULT_DCGM_IMAGE = 'nvcr.io/nvidia/k8s/dcgm-exporter:4.6.1-4.8.4-distroless';
/** Node label set by GPU feature discovery on nodes with NVIDIA GPUs. */
export const GPU_NODE_LABEL = 'nvidia.com/gpu.present';
const POD_RESOURCES_DIR = '/var/lib/kubelet/pod-resources';

export interface DcgmExporterProps extends StackComponentProps {
  /** Metrics port. */
  readonly port: number;
  /** @default DEFAULT_DCGM_IMAGE */
  readonly image?: string;
}

/**
 * NVIDIA DCGM exporter on GPU nodes only. It reads the kubelet's pod-resources
 * socket (a hostPath) to label each GPU's series with the `namespace`, `pod`
 * and `container` using it, which is how GPU series join inference series.
 * The hostPath and root user put this pod at Pod Security level `privileged`:
 * run it in a namespace that allows that (or use the GPU Operator's exporter
 * with `gpuMetrics.deployExporter: false`).
 */
export class DcgmExporter extends StackComponent {
  public readonly daemonSet: kplus.DaemonSet;

  constructor(scope: Construct, id: string, props: DcgmExporterProps) {
    super(scope, id, props, { appName: 'dcgm-exporter', component: 'gpu-metrics' });
    this.daemonSet = new kplus.DaemonSet(this, 'Resource', {
      metadata: this.metadata(),
      select: false,
      podMetadata: { labels: this.labels },
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: false, user: 0 },
    });
    this.selectPods(this.daemonSet);
    const podResources = kplus.Volume.fromHostPath(this, 'pod-resources', 'pod-resources', { path: POD_RESOURCES_DIR, type: kplus.HostPathVolumeType.DIRECTORY });
    const container = this.daemonSet.addContainer({
      name: 'dcgm-exporter',
      image: props.image ?? DEFAULT_DCGM_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      ports: [{ name: 'metrics', number: props.port }],
      // Root to read the pod-resources socket; no capabilities (SYS_ADMIN would only add profiling metrics).
      securityContext: {
        ensureNonRoot: false, user: 0, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false,
        capabilities: { drop: [kplus.Capability.ALL] }, seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
      },
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/health', { port: props.port }),
      volumeMounts: [
        { path: POD_RESOURCES_DIR, volume: podResources, readOnly: true },
        { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'tmp', 'tmp') },
      ],
    });
    container.env.addVariable('DCGM_EXPORTER_LISTEN', kplus.EnvValue.fromValue(`:${props.port}`));
    container.env.addVariable('DCGM_EXPORTER_KUBERNETES', kplus.EnvValue.fromValue('true'));
    container.env.addVariable('NODE_NAME', kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_NAME));
    const obj = ApiObject.of(this.daemonSet);
    setResources(obj, '/spec/template/spec/containers/0', { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' }, { memory: '512Mi', 'ephemeral-storage': '256Mi' });
    obj.addJsonPatch(
      JsonPatch.add('/spec/template/spec/nodeSelector', { [GPU_NODE_LABEL]: 'true' }),
      JsonPatch.add('/spec/template/spec/tolerations', [{ key: 'nvidia.com/gpu', operator: 'Exists' }]),
    );
  }
}
