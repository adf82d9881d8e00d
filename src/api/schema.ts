/**
 * The `InferenceMonitoring` spec, defined once. From this one definition come
 * the TypeScript types (`Static`), runtime validation and defaulting
 * (`validate.ts`) and the CRD's OpenAPI v3 schema (`crd.ts`).
 */
import { Type, Static } from '@sinclair/typebox';
import { ENGINE_NAMES } from '../engines/engine-ids';
import { GPU_ENGINE_NAMES, MULTI_NODE_MODES, NO_DATA_PARALLEL_REASONS, NO_MULTI_NODE_REASONS, NO_PIPELINE_PARALLEL_REASONS, SHARED_TP_ENGINE_NAMES } from '../engines/registry';
import {
  Duration, LabelSelector, List, Obj, Quantity, StringEnum, Url,
  DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, IMAGE_PATTERN, LABEL_VALUE_PATTERN, PORT_RE, QUALIFIED_NAME_PATTERN, SECRET_KEY_PATTERN,
} from './schema-builders';

export const API_GROUP = 'monitoring.inference.dev';
export const API_VERSION = 'v1alpha1';
export const KIND = 'InferenceMonitoring';
export const PLURAL = 'inferencemonitorings';
export const SHORT_NAME = 'infmon';
/** Where docs/runbooks/ is published: the default of `alerting.runbookBaseUrl` and of the controller install's alerts. */
export const DEFAULT_RUNBOOK_BASE_URL = 'https://github.com/cdk8s-inference-monitoring/cdk8s-inference-monitoring/blob/main/docs/runbooks';

/** Upper bounds keep CEL cost estimates within the apiserver's budget and derived names short. */
export const MAX_MODELS = 32;
export const MAX_TARGETS = 32;
export const MAX_MODEL_NAME = 40;
/** Environment variables every engine container gets from us (see InferenceModel); `env` may not set them. */
export const ALWAYS_GENERATED_ENV = ['HF_HOME', 'POD_NAME', 'POD_NAMESPACE'];
/** Names of the stack's own components (`<resource>-<name>`): a model or target of that name would collide with them. */
export const RESERVED_WORKLOAD_NAMES = ['prometheus', 'grafana', 'tempo', 'alertmanager', 'dcgm-exporter', 'default-deny'];

const celList = (items: string[]) => `[${items.map((i) => `'${i}'`).join(', ')}]`;
/** A CEL string literal (single-quoted; the reasons are our own prose, without quotes or backslashes). */
const celString = (s: string) => {
  if (/['\\\n]/.test(s)) throw new Error(`not a plain CEL string: ${s}`);
  return `'${s}'`;
};
const celMapOfLists = (entries: Record<string, string[]>) => `{${Object.entries(entries).map(([k, v]) => `${celString(k)}: ${celList(v)}`).join(', ')}}`;
const celMap = (entries: Record<string, string>) => `{${Object.entries(entries).map(([k, v]) => `${celString(k)}: ${celString(v)}`).join(', ')}}`;

const SecretKeyRef = Obj({
  name: Type.String({ description: 'Name of the Secret in the resource\'s namespace.', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
  key: Type.String({ description: 'Key within the Secret: `[-._a-zA-Z0-9]+`, not `.` and not starting with `..`.', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN }),
}, { description: 'A key of a Secret in the same namespace.' });

const EnvVar = Obj({
  name: Type.String({ description: 'Environment variable name.', minLength: 1, maxLength: 128, pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$' }),
  value: Type.Optional(Type.String({ description: 'Literal value.', maxLength: 4096 })),
  secretKeyRef: Type.Optional(SecretKeyRef),
}, {
  description: 'An environment variable for the engine container.',
  'x-kubernetes-validations': [{ rule: 'has(self.value) != has(self.secretKeyRef)', message: 'exactly one of value or secretKeyRef must be set' }],
});

const Toleration = Obj({
  key: Type.String({ description: 'Taint key the toleration applies to.', minLength: 1, maxLength: 316, pattern: QUALIFIED_NAME_PATTERN }),
  operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const, { description: 'How the key is matched.', default: 'Exists' })),
  value: Type.Optional(Type.String({ description: 'Taint value, with operator Equal.', maxLength: 63 })),
  effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const, { description: 'Taint effect to tolerate; empty tolerates all effects.' })),
}, {
  description: 'A toleration for the GPU nodes\' taints.',
  'x-kubernetes-validations': [{ rule: "!has(self.value) || (has(self.operator) && self.operator == 'Equal')", message: 'a value needs operator Equal (Exists matches any value)', fieldPath: '.value' }],
});

const Gpu = Obj({
  count: Type.Integer({ description: 'GPUs per replica, requested as limits of `resourceName`. Must cover the GPUs parallelism needs: tensor × data (LMDeploy: max(tensor, data), its data-parallel ranks share the tensor-parallel GPUs).', minimum: 0, maximum: 64, default: 1 }),
  resourceName: Type.String({
    description: 'Extended resource advertised by the device plugin: a domain-prefixed name such as `nvidia.com/gpu` or `amd.com/gpu` (not cpu, memory, hugepages-* or a kubernetes.io/ resource).',
    pattern: QUALIFIED_NAME_PATTERN, maxLength: 253, default: 'nvidia.com/gpu',
    'x-kubernetes-validations': [{
      // apimachinery IsExtendedResourceName: not native (a name without a domain, or in kubernetes.io), not `requests.*`,
      // and `requests.<name>` a qualified name (its prefix at most 253 characters).
      rule: "self.matches('^[^/]{1,244}/[^/]+$') && !self.contains('kubernetes.io/') && !self.startsWith('requests.')",
      message: 'must be an extended resource name with a domain prefix, such as nvidia.com/gpu: cpu, memory, hugepages-*, kubernetes.io/ names and a name without a domain are not device-plugin resources',
    }],
  } as object),
  product: Type.Optional(Type.String({ description: 'GPU product (the `nvidia.com/gpu.product` node label set by GPU feature discovery, e.g. `NVIDIA-A100-SXM4-80GB`); pods are pinned to nodes with this label.', maxLength: 63, pattern: LABEL_VALUE_PATTERN })),
  tolerations: Type.Optional(List(Toleration, { description: 'Tolerations for GPU node taints. Default: tolerate `nvidia.com/gpu` with any effect.', maxItems: 16 })),
}, { description: 'GPUs of each replica.', default: {} });

/** Multi-node modes of every engine (the enum of `parallelism.multiNodeMode`), spelt out for the input type. */
const ALL_MULTI_NODE_MODES = ['hybrid', 'native'] as const;
{
  const fromProfiles = [...new Set(Object.values(MULTI_NODE_MODES).flat())].sort();
  if (fromProfiles.join() !== ALL_MULTI_NODE_MODES.join()) throw new Error(`parallelism.multiNodeMode lists ${ALL_MULTI_NODE_MODES.join(', ')}, the engine profiles ${fromProfiles.join(', ')}`);
}

const Parallelism = Obj({
  tensor: Type.Integer({ description: 'Tensor-parallel size: GPUs per model copy (LMDeploy with data parallelism: the total, shared by its data-parallel ranks).', minimum: 1, maximum: 64, default: 1 }),
  pipeline: Type.Integer({ description: 'Pipeline-parallel size (vLLM, SGLang): a model copy uses tensor × pipeline GPUs.', minimum: 1, maximum: 64, default: 1 }),
  data: Type.Integer({ description: 'Data-parallel size: engine ranks per replica, each serving the whole model. Engines that run one API server per rank (LMDeploy) get one scrape endpoint per rank.', minimum: 1, maximum: 64, default: 1 }),
  expert: Type.Boolean({ description: 'Expert parallelism for mixture-of-experts models: the experts are spread over the data- (vLLM, LMDeploy) or tensor-parallel (SGLang) ranks.', default: false }),
  nodes: Type.Integer({ description: 'Pods per replica: with more than 1, each replica is a LeaderWorkerSet group of this many pods (one per node), each with gpu.count GPUs, and tensor × pipeline × data (LMDeploy: max(tensor, data)) must equal gpu.count × nodes.', minimum: 1, maximum: 64, default: 1 }),
  multiNodeMode: Type.Optional(StringEnum(ALL_MULTI_NODE_MODES, { description: 'How the engine runs one replica over its pods (nodes > 1). vLLM: `native` (tensor × pipeline over the pods, workers headless; with data 1) or `hybrid` (data parallelism, API servers on every pod for its local ranks; with data > 1). SGLang: `native`. LMDeploy: `native` (data parallelism, one API server per rank on every pod).' })),
}, { description: 'How the model is split across the GPUs of one replica.', default: {} });

const ResourceList = Obj({
  cpu: Type.Optional(Quantity('CPU quantity, e.g. `8`.')),
  memory: Type.Optional(Quantity('Memory quantity, e.g. `64Gi`.')),
}, { description: 'CPU and memory quantities.' });

const Resources = Obj({
  requests: Type.Optional(ResourceList),
  limits: Type.Optional(ResourceList),
  sharedMemory: Quantity('Size of the memory-backed `/dev/shm` (NCCL and PyTorch data loaders need more than the 64Mi container default).', '16Gi'),
}, { description: 'CPU, memory and shared memory of the engine container. Defaults come from the engine profile.', default: {} });

const ModelCache = Obj({
  type: StringEnum(['emptyDir', 'persistentVolumeClaim'] as const, { description: 'Where downloaded weights live: a pod-local emptyDir, or a PersistentVolumeClaim that survives restarts.', default: 'emptyDir' }),
  size: Type.Optional(Quantity('Size of the volume (emptyDir size limit, or the storage request of the generated claim).')),
  storageClassName: Type.Optional(Type.String({ description: 'Storage class of the generated claim.', maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN })),
  existingClaim: Type.Optional(Type.String({ description: 'Use this existing claim instead of generating one.', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' })),
  mountPath: Type.String({ description: 'Where the cache is mounted; `HF_HOME` points here. An absolute path of letters, digits and `-._@+=,~`, not `/`, without `.` or `..` components, not in /dev, /proc or /sys.', default: '/cache/huggingface', pattern: '^(/[-._a-zA-Z0-9@+=,~]+)+/?$', maxLength: 256 }),
}, {
  description: 'Volume for model weights.',
  default: {},
  'x-kubernetes-validations': [
    { rule: "self.type == 'persistentVolumeClaim' || !has(self.existingClaim)", message: 'existingClaim requires type persistentVolumeClaim', fieldPath: '.existingClaim' },
    // The engine container already mounts /dev/shm (resources.sharedMemory); the apiserver refuses a second mount there,
    // and a cache over /dev, /proc or /sys would hide what the container runtime mounts there.
    { rule: "!self.mountPath.matches('^/(dev|proc|sys)(/|$)')", message: 'the cache may not be mounted in /dev, /proc or /sys: /dev/shm is the shared-memory mount (resources.sharedMemory), and the others belong to the container runtime; choose another path', fieldPath: '.mountPath' },
    { rule: "!self.mountPath.matches('(^|/)[.][.]?(/|$)')", message: 'the path may not have . or .. components', fieldPath: '.mountPath' },
    { rule: "self.type != 'persistentVolumeClaim' || has(self.existingClaim) || has(self.size)", message: 'a persistentVolumeClaim cache needs size (to create a claim) or existingClaim', fieldPath: '.size', reason: 'FieldValueRequired' },
  ],
});

export const ModelSchema = Obj({
  name: Type.String({ description: 'Short name of this deployment, unique in the resource; part of object names and the `model` dashboard variable.', minLength: 1, maxLength: MAX_MODEL_NAME, pattern: DNS_LABEL_PATTERN }),
  model: Type.String({ description: 'Model to serve: a Hugging Face id such as `Qwen/Qwen2.5-7B-Instruct`, or a path inside the model cache.', minLength: 1, maxLength: 256 }),
  engine: StringEnum(ENGINE_NAMES, { description: 'Inference engine.' }),
  engineVersion: Type.Optional(Type.String({ description: 'Engine version (the image tag unless `image` is set). Metric names and flags follow it. Default: the profile\'s tested version.', maxLength: 64, pattern: '^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?([-+.][0-9A-Za-z.-]+)?$' })),
  image: Type.Optional(Type.String({ description: 'Container image reference (`[registry/]path[:tag][@digest]`); overrides the profile\'s image for engineVersion.', minLength: 1, maxLength: 512, pattern: IMAGE_PATTERN })),
  args: Type.Optional(List(Type.String({ maxLength: 4096 }), { description: 'Extra engine arguments, appended after the generated ones.', maxItems: 64 })),
  env: Type.Optional(List(EnvVar, { description: 'Extra environment variables, unique by name. Names the controller sets (HF_HOME, POD_NAME, POD_NAMESPACE, HF_TOKEN with hfTokenSecretRef, the engine\'s and OTLP variables) are refused.', maxItems: 64, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })),
  replicas: Type.Integer({ description: 'Pod replicas.', minimum: 0, maximum: 128, default: 1 }),
  gpu: Gpu,
  parallelism: Parallelism,
  port: Type.Optional(Type.Integer({ description: 'HTTP port of the (first) API server. Default: the engine\'s own default port.', minimum: 1, maximum: 65535 })),
  resources: Resources,
  modelCache: ModelCache,
  hfTokenSecretRef: Type.Optional(SecretKeyRef),
  autoscaling: Type.Optional(Obj({
    minReplicas: Type.Integer({ description: 'Fewest replicas.', minimum: 0, maximum: 128, default: 1 }),
    maxReplicas: Type.Integer({ description: 'Most replicas.', minimum: 1, maximum: 128, default: 4 }),
    metric: StringEnum(['queueLength', 'kvCacheUsage'] as const, { description: '`queueLength`: waiting requests per replica; `kvCacheUsage`: KV-cache usage (0 to 1) of the busiest rank.', default: 'queueLength' }),
    target: Type.Number({ description: 'Target value: waiting requests per replica, or KV-cache usage (0 to 1).', exclusiveMinimum: 0 }),
    pollingIntervalSeconds: Type.Integer({ description: 'How often KEDA queries Prometheus.', minimum: 5, maximum: 3600, default: 30 }),
  }, {
    description: 'Scale replicas with KEDA on a Prometheus signal (needs KEDA in the cluster). The Deployment then leaves replicas to the autoscaler.',
    'x-kubernetes-validations': [
      { rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas', fieldPath: '.minReplicas' },
      { rule: "self.metric != 'kvCacheUsage' || self.target <= 1", message: 'a kvCacheUsage target is a share between 0 and 1', fieldPath: '.target' },
    ],
  })),
}, {
  description: 'A model served by an inference engine, deployed and monitored.',
  'x-kubernetes-validations': [
    {
      // Without image, engineVersion becomes the image tag, and a tag has no `+` (OCI: [A-Za-z0-9_.-]).
      rule: "has(self.image) || !has(self.engineVersion) || !self.engineVersion.contains('+')",
      message: 'without image, engineVersion is the image tag, and an image tag may not contain +: set image, or drop the build metadata',
      fieldPath: '.engineVersion',
    },
    {
      rule: `!(self.engine in ${celList(GPU_ENGINE_NAMES)}) || self.gpu.count >= 1`,
      messageExpression: "'engine ' + self.engine + ' needs at least one GPU (gpu.count >= 1)'",
      fieldPath: '.gpu.count',
    },
    {
      rule: `self.parallelism.nodes > 1 || (self.engine in ${celList(SHARED_TP_ENGINE_NAMES)} ? (self.parallelism.tensor > self.parallelism.data ? self.parallelism.tensor : self.parallelism.data) : self.parallelism.tensor * self.parallelism.pipeline * self.parallelism.data) <= (self.gpu.count > 0 ? self.gpu.count : 1)`,
      messageExpression: `self.engine in ${celList(SHARED_TP_ENGINE_NAMES)} ? 'max(parallelism.tensor, parallelism.data) must not exceed gpu.count: ' + self.engine + ' data-parallel ranks share the tensor-parallel GPUs' : 'parallelism.tensor × parallelism.pipeline × parallelism.data must not exceed gpu.count'`,
      fieldPath: '.parallelism',
    },
    {
      // Over several pods every GPU of the group is one rank's: the engines divide the world evenly over the nodes
      // (vLLM arg_utils.py: world size % nnodes; SGLang: tp × pp over nnodes; LMDeploy: max(dp, tp) devices).
      rule: `self.parallelism.nodes == 1 || (self.engine in ${celList(SHARED_TP_ENGINE_NAMES)} ? (self.parallelism.tensor > self.parallelism.data ? self.parallelism.tensor : self.parallelism.data) : self.parallelism.tensor * self.parallelism.pipeline * self.parallelism.data) == self.gpu.count * self.parallelism.nodes`,
      messageExpression: `self.engine in ${celList(SHARED_TP_ENGINE_NAMES)} ? 'max(parallelism.tensor, parallelism.data) must equal gpu.count × parallelism.nodes: every GPU of the pods of a replica holds one rank' : 'parallelism.tensor × parallelism.pipeline × parallelism.data must equal gpu.count × parallelism.nodes: every GPU of the pods of a replica holds one rank'`,
      fieldPath: '.parallelism',
    },
    {
      rule: `!(self.engine in ${celList(Object.keys(NO_MULTI_NODE_REASONS))}) || self.parallelism.nodes == 1`,
      messageExpression: `self.engine + ' cannot serve one model over several pods: ' + ${celMap(NO_MULTI_NODE_REASONS)}[self.engine]`,
      fieldPath: '.parallelism.nodes',
      reason: 'FieldValueForbidden',
    },
    {
      rule: `!(self.engine in ${celList(Object.keys(NO_PIPELINE_PARALLEL_REASONS))}) || self.parallelism.pipeline == 1`,
      messageExpression: `self.engine + ' has no pipeline parallelism: ' + ${celMap(NO_PIPELINE_PARALLEL_REASONS)}[self.engine]`,
      fieldPath: '.parallelism.pipeline',
      reason: 'FieldValueForbidden',
    },
    {
      // Not `%`: the library evaluates CEL over JSON numbers (doubles), the apiserver over integers; with every
      // operand a double, int() truncating the quotient, both give the same answer.
      rule: 'self.parallelism.nodes == 1 || self.parallelism.data == 1 || double(int(double(self.parallelism.data) / double(self.parallelism.nodes))) * double(self.parallelism.nodes) == double(self.parallelism.data)',
      message: 'parallelism.data must be a multiple of parallelism.nodes: every pod of a group runs the same number of data-parallel ranks',
      fieldPath: '.parallelism.data',
    },
    {
      rule: '!has(self.parallelism.multiNodeMode) || self.parallelism.nodes > 1',
      message: 'multiNodeMode applies to a replica over several pods (parallelism.nodes > 1)',
      fieldPath: '.parallelism.multiNodeMode',
      reason: 'FieldValueForbidden',
    },
    {
      rule: `!has(self.parallelism.multiNodeMode) || !(self.engine in ${celList(Object.keys(MULTI_NODE_MODES))}) || self.parallelism.multiNodeMode in ${celMapOfLists(MULTI_NODE_MODES)}[self.engine]`,
      messageExpression: `'Unsupported value: ' + self.parallelism.multiNodeMode + ': ' + self.engine + ' runs ' + ${celMap(Object.fromEntries(Object.entries(MULTI_NODE_MODES).map(([e, m]) => [e, m.join(', ')])))}[self.engine]`,
      fieldPath: '.parallelism.multiNodeMode',
    },
    {
      rule: `!(self.name in ${celList(RESERVED_WORKLOAD_NAMES)})`,
      message: `a model may not be named ${RESERVED_WORKLOAD_NAMES.join(', ')}: its objects would take the names of the stack's own`,
      fieldPath: '.name',
    },
    {
      rule: `!has(self.env) || self.env.all(e, !(e.name in ${celList(ALWAYS_GENERATED_ENV)}))`,
      message: `env must not set ${ALWAYS_GENERATED_ENV.join(', ')}: they are generated (HF_HOME from modelCache.mountPath, POD_NAME and POD_NAMESPACE from the pod)`,
      fieldPath: '.env',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "!has(self.hfTokenSecretRef) || !has(self.env) || self.env.all(e, e.name != 'HF_TOKEN')",
      message: 'env must not set HF_TOKEN when hfTokenSecretRef is set: HF_TOKEN comes from that Secret',
      fieldPath: '.env',
      reason: 'FieldValueForbidden',
    },
    {
      rule: `!(self.engine in ${celList(Object.keys(NO_DATA_PARALLEL_REASONS))}) || self.parallelism.data == 1`,
      messageExpression: `self.engine + ' has no data parallelism: ' + ${celMap(NO_DATA_PARALLEL_REASONS)}[self.engine]`,
      fieldPath: '.parallelism.data',
      reason: 'FieldValueForbidden',
    },
    {
      // lmdeploy/serve/openai/launch_server.py: with --dp > 1 it asserts tp > 1 or ep > 1.
      rule: `!(self.engine in ${celList(SHARED_TP_ENGINE_NAMES)}) || self.parallelism.data == 1 || self.parallelism.tensor > 1 || self.parallelism.expert`,
      messageExpression: "self.engine + ' data parallelism needs parallelism.tensor > 1 or parallelism.expert: its data-parallel ranks share the tensor-parallel GPUs (tensor is the total), or split the experts'",
      fieldPath: '.parallelism.tensor',
    },
  ],
});

export const TargetSchema = Obj({
  name: Type.String({ description: 'Short name of this target, unique among models and targets.', minLength: 1, maxLength: MAX_MODEL_NAME, pattern: DNS_LABEL_PATTERN }),
  engine: StringEnum(ENGINE_NAMES, { description: 'Engine the pods run; selects metric names and dashboards.' }),
  engineVersion: Type.Optional(Type.String({ description: 'Engine version the pods run.', maxLength: 64, pattern: '^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?([-+.][0-9A-Za-z.-]+)?$' })),
  selector: LabelSelector('Pod labels (matchLabels) of the existing workload.'),
  namespace: Type.Optional(Type.String({ description: 'Namespace of the pods. Default: the resource\'s namespace.', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' })),
  port: Type.Integer({ description: 'Port of the (first) metrics endpoint.', minimum: 1, maximum: 65535 }),
  ranks: Type.Integer({ description: 'Number of consecutive ports starting at `port` that each serve `/metrics` (LMDeploy data-parallel ranks).', minimum: 1, maximum: 64, default: 1 }),
  path: Type.String({ description: 'Metrics path.', pattern: '^/', maxLength: 256, default: '/metrics' }),
}, { description: 'An inference workload that already runs and is only monitored.' });

const Storage = Obj({
  size: Type.Optional(Quantity('Volume size; without it an emptyDir is used and data does not survive a restart.')),
  storageClassName: Type.Optional(Type.String({ description: 'Storage class of the claim.', maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN })),
}, { description: 'Persistent storage.', default: {} });

const FileSecretKeyRef = (what: string, key: string) => Obj({
  name: Type.String({ description: `Secret holding ${what}.`, minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
  key: Type.String({ description: 'Key in the Secret: `[-._a-zA-Z0-9]+`, not `.` and not starting with `..`.', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN, default: key }),
}, { description: `A key of a Secret: ${what}.` });

const RemoteWrite = Obj({
  url: Url('Remote-write endpoint, e.g. Mimir or Thanos Receive. No credentials in it (user:password@ or in the query): they would land in a ConfigMap; use basicAuth or bearerTokenSecretRef.', {
    writtenInto: 'prometheus.yml (a ConfigMap) or the Prometheus resource', instead: 'use basicAuth or bearerTokenSecretRef',
  }),
  name: Type.Optional(Type.String({ description: 'Name of the queue in Prometheus\' metrics.', maxLength: 63, pattern: DNS_LABEL_PATTERN })),
  basicAuth: Type.Optional(Obj({
    usernameSecretRef: FileSecretKeyRef('the user name', 'username'),
    passwordSecretRef: FileSecretKeyRef('the password', 'password'),
  }, { description: 'HTTP basic authentication, both parts from Secrets (mounted as files, never in the configuration).' })),
  bearerTokenSecretRef: Type.Optional(FileSecretKeyRef('a bearer token Prometheus sends (mounted as a file, never in the configuration)', 'token')),
  tls: Type.Optional(Obj({
    caSecretRef: Type.Optional(FileSecretKeyRef('the CA certificate (PEM) that signed the endpoint\'s certificate', 'ca.crt')),
    certSecretRef: Type.Optional(FileSecretKeyRef('the client certificate (PEM), for mutual TLS', 'tls.crt')),
    keySecretRef: Type.Optional(FileSecretKeyRef('the client certificate\'s private key (PEM)', 'tls.key')),
  }, {
    description: 'TLS of the connection, from Secrets mounted as files.',
    'x-kubernetes-validations': [{ rule: 'has(self.certSecretRef) == has(self.keySecretRef)', message: 'a client certificate needs its key, and a key its certificate', fieldPath: '.certSecretRef' }],
  })),
}, {
  description: 'A Prometheus remote_write target.',
  'x-kubernetes-validations': [
    { rule: '!(has(self.basicAuth) && has(self.bearerTokenSecretRef))', message: 'basicAuth and bearerTokenSecretRef are exclusive', fieldPath: '.bearerTokenSecretRef', reason: 'FieldValueForbidden' },
  ],
});

const Monitoring = Obj({
  mode: StringEnum(['managed', 'operator'] as const, { description: '`managed`: deploy our own Prometheus with a generated configuration (no operator needed). `operator`: emit ServiceMonitors/PodMonitors/PrometheusRules for prometheus-operator (kube-prometheus-stack).', default: 'managed' }),
  release: Type.String({ description: 'Value of the `release` label that kube-prometheus-stack\'s selectors match (operator mode).', maxLength: 63, pattern: LABEL_VALUE_PATTERN, default: 'kube-prometheus-stack' }),
  interval: Duration('Scrape interval.', '15s'),
  evaluationInterval: Duration('Rule evaluation interval.', '30s'),
  retention: Duration('How long Prometheus keeps samples.', '15d'),
  storage: Storage,
  remoteWrite: Type.Optional(List(RemoteWrite, { description: 'Remote-write targets for long-term storage.', maxItems: 8 })),
  createPrometheus: Type.Boolean({ description: 'In operator mode, also emit a `Prometheus` resource that selects this stack\'s monitors and rules.', default: false }),
  prometheusUrl: Url('In operator mode without createPrometheus: the existing Prometheus Grafana queries and OTLP-pushing engines send to (its OTLP receiver must be on).', {
    writtenInto: 'Grafana\'s datasource ConfigMap and engine environment variables', instead: 'reach it without credentials in the URL (for example through a proxy in the cluster)',
    default: 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090',
  }),
}, {
  description: 'How metrics are collected.',
  default: {},
  // A shared Prometheus (operator mode without createPrometheus) is not ours to configure: fields only a
  // Prometheus of the stack's own can honour are refused rather than dropped silently.
  'x-kubernetes-validations': [
    { rule: "self.mode == 'managed' || self.createPrometheus || !has(self.remoteWrite)", message: 'remoteWrite needs a Prometheus of the stack\'s own: mode managed, or createPrometheus in operator mode (configure remote write on the shared Prometheus instead)', fieldPath: '.remoteWrite', reason: 'FieldValueForbidden' },
    { rule: "self.mode == 'managed' || self.createPrometheus || (!has(self.storage.size) && !has(self.storage.storageClassName))", message: 'storage needs a Prometheus of the stack\'s own: mode managed, or createPrometheus in operator mode', fieldPath: '.storage', reason: 'FieldValueForbidden' },
  ],
});

const Tracing = Obj({
  enabled: Type.Boolean({ description: 'Export OTLP traces from the engines.', default: true }),
  samplingRatio: Type.Optional(Type.Number({ description: 'Share of traces kept (0 to 1). Default: the engine\'s: 1, and 0.01 for transformers, whose internal functions each make a span (about 1,300 per request).', minimum: 0, maximum: 1 })),
  endpoint: Type.Optional(Url('OTLP gRPC endpoint of an external collector (every engine exports traces to it over gRPC; with networkPolicy.defaultDeny the engines may reach its port); default: the stack\'s Tempo. No credentials in it: it is written into engine arguments; use headersSecretRef.', {
    writtenInto: 'engine arguments and environment variables', instead: 'use headersSecretRef',
  })),
  headersSecretRef: Type.Optional(Obj({
    name: Type.String({ description: 'Secret in the resource\'s namespace.', minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
    key: Type.String({ description: 'Key holding the headers, `name=value` pairs separated by commas (e.g. `authorization=Bearer <token>`).', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN, default: 'headers' }),
  }, { description: 'Headers of every trace export (the collector\'s credentials), from a Secret: the engines get them as OTEL_EXPORTER_OTLP_TRACES_HEADERS, which OpenTelemetry SDKs read; never in arguments or a ConfigMap.' })),
}, {
  description: 'Request tracing.',
  default: {},
});

const Tempo = Obj({
  enabled: Type.Boolean({ description: 'Deploy Tempo (OTLP gRPC 4317, HTTP 4318).', default: true }),
  retention: Duration('How long traces are kept.', '72h'),
  storage: Storage,
}, { description: 'The trace store.', default: {} });

const Grafana = Obj({
  enabled: Type.Boolean({ description: 'Deploy Grafana with provisioned datasources and dashboards.', default: true }),
  adminSecretRef: Type.Optional(Obj({
    name: Type.String({ description: 'Secret holding the admin credentials.', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' }),
    userKey: Type.String({ description: 'Key of the admin user name.', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN, default: 'admin-user' }),
    passwordKey: Type.String({ description: 'Key of the admin password.', minLength: 1, maxLength: 253, pattern: SECRET_KEY_PATTERN, default: 'admin-password' }),
  }, { description: 'Existing Secret with the admin credentials. Default: a Secret named `<name>-grafana-admin` that you create (see README); the stack never ships a password.' })),
  anonymousAccess: Type.Boolean({ description: 'Let unauthenticated users view dashboards.', default: false }),
}, { description: 'Dashboards.', default: {} });

const GpuMetrics = Obj({
  enabled: Type.Boolean({ description: 'Collect GPU metrics from NVIDIA DCGM exporter.', default: true }),
  deployExporter: Type.Boolean({ description: 'Deploy the DCGM exporter DaemonSet; set false when the GPU Operator already runs one (it is then only scraped).', default: true }),
  exporterNamespace: Type.Optional(Type.String({ description: 'Namespace of an existing exporter (with deployExporter false), e.g. `gpu-operator`. Default: the resource\'s namespace.', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' })),
  exporterSelector: Type.Optional(LabelSelector('Pod labels of an existing exporter. Default: `app: nvidia-dcgm-exporter` (the GPU Operator\'s).')),
  port: Type.Integer({ description: 'Metrics port of the exporter.', minimum: 1, maximum: 65535, default: 9400 }),
}, { description: 'GPU metrics from NVIDIA DCGM exporter.', default: {} });

const Alerts = Obj({
  enabled: Type.Boolean({ description: 'Emit alerting and recording rules.', default: true }),
  ttftP95Seconds: Type.Number({ description: 'Alert when p95 time to first token exceeds this many seconds.', exclusiveMinimum: 0, default: 2 }),
  queueLength: Type.Integer({ description: 'Alert when more requests than this wait in a model\'s queue.', minimum: 1, default: 20 }),
  kvCacheUsage: Type.Number({ description: 'Alert when KV-cache usage (0 to 1) stays above this.', minimum: 0, maximum: 1, default: 0.95 }),
  errorRatio: Type.Number({ description: 'Alert when the share of failed requests exceeds this.', minimum: 0, maximum: 1, default: 0.05 }),
}, { description: 'Alerts.', default: {} });


const AlertmanagerEndpoint = Obj({
  url: Url('Base URL of an existing Alertmanager, e.g. `https://alertmanager.example.com` (path prefix kept; no query, no credentials).', {
    writtenInto: 'prometheus.yml (a ConfigMap), and Prometheus would not send them', instead: 'use bearerTokenSecretRef',
    rules: [{ rule: "!self.contains('?') && !self.contains('#')", message: 'Prometheus sends alerts to scheme, host and path prefix only: a query or fragment would be dropped' }],
  }),
  bearerTokenSecretRef: Type.Optional(FileSecretKeyRef('a bearer token Prometheus sends (mounted as a file, never in the configuration)', 'token')),
  caSecretRef: Type.Optional(FileSecretKeyRef('the CA certificate (PEM) that signed its TLS certificate', 'ca.crt')),
}, { description: 'An existing Alertmanager the stack\'s Prometheus sends alerts to.' });

const Alerting = Obj({
  alertmanager: Obj({
    deploy: Type.Boolean({ description: 'Run an Alertmanager of the stack\'s own (managed mode, or operator mode with createPrometheus) and send alerts to it.', default: true }),
    configSecretRef: Type.Optional(FileSecretKeyRef('the Alertmanager configuration (receivers, routes, inhibitions); you own it, the stack only mounts it. Default: Secret `<name>-alertmanager`, key `alertmanager.yaml`', 'alertmanager.yaml')),
  }, { description: 'An Alertmanager of the stack\'s own.', default: {} }),
  endpoints: Type.Optional(List(AlertmanagerEndpoint, { description: 'Existing Alertmanagers to send alerts to (as well as, or instead of, the stack\'s own).', maxItems: 4 })),
  runbookBaseUrl: Url('Every alert\'s `runbook_url` is `<runbookBaseUrl>/<alertname>.md` (the runbooks are in docs/runbooks/); written as literal text (Prometheus expands `{{ }}` in annotations: it is escaped).', {
    writtenInto: 'every alert\'s annotations', instead: 'publish the runbooks where they need none',
    maxLength: 1024, pattern: '^https?://[!-~]*[!-.0-~]$', default: DEFAULT_RUNBOOK_BASE_URL,
  }),
}, {
  description: 'Where alerts go. In operator mode without createPrometheus they reach the shared Prometheus\' Alertmanager (kube-prometheus-stack\'s).',
  default: {},
});

const SloObjective = Obj({
  objective: Type.Number({ description: 'Target share of good requests, e.g. 0.99.', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.99 }),
  thresholdSeconds: Type.Optional(Type.Number({ description: 'A request is good when faster than this (latency SLOs).', exclusiveMinimum: 0 })),
}, { description: 'A service-level objective.' });

const Slo = Obj({
  ttft: Type.Optional(SloObjective),
  interTokenLatency: Type.Optional(SloObjective),
  availability: Type.Optional(SloObjective),
}, {
  description: 'Service-level objectives; each gets multi-window multi-burn-rate alerts.',
  'x-kubernetes-validations': [
    { rule: '!has(self.ttft) || has(self.ttft.thresholdSeconds)', message: 'a latency SLO needs thresholdSeconds', fieldPath: '.ttft.thresholdSeconds', reason: 'FieldValueRequired' },
    { rule: '!has(self.interTokenLatency) || has(self.interTokenLatency.thresholdSeconds)', message: 'a latency SLO needs thresholdSeconds', fieldPath: '.interTokenLatency.thresholdSeconds', reason: 'FieldValueRequired' },
  ],
});

const Benchmarks = Obj({
  enabled: Type.Boolean({ description: 'Provision the PostgreSQL benchmark datasource and dashboard.', default: false }),
  host: Type.Optional(Type.String({ description: 'PostgreSQL `host[:port]` (port 1-65535, default 5432): a DNS name, IPv4 or bracketed IPv6 address.', maxLength: 253, pattern: `^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:.]+\\])(:${PORT_RE})?$` })),
  database: Type.String({ description: 'Database name.', maxLength: 63, default: 'metrics' }),
  secretRef: Type.Optional(Obj({
    name: Type.String({ description: 'Secret with keys `user` and `password`.', minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN_PATTERN }),
  }, { description: 'Credentials of the benchmark database.' })),
}, {
  description: 'The transformers benchmark dashboard on PostgreSQL.',
  default: {},
  'x-kubernetes-validations': [
    { rule: '!self.enabled || (has(self.host) && has(self.secretRef))', message: 'enabled benchmarks need host and secretRef', fieldPath: '.host', reason: 'FieldValueRequired' },
  ],
});

const PolicyPeer = (what: string, namespace: string, labels: Record<string, string>) => Obj({
  namespace: Type.String({ description: `Namespace of ${what}.`, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', default: namespace }),
  podSelector: LabelSelector(`Pod labels (matchLabels) of ${what}.`, labels),
}, { description: `Where ${what} runs: NetworkPolicies admit (or let reach) these pods.`, default: {} });

const PORT = Type.Integer({ minimum: 1, maximum: 65535 });

const NetworkPolicy = Obj({
  enabled: Type.Boolean({ description: 'Emit NetworkPolicies that admit only the traffic the stack needs (ingress).', default: true }),
  defaultDeny: Type.Boolean({ description: 'Also deny every other ingress and egress of the stack\'s pods: each component may then only reach DNS, what it needs (Prometheus: the API server, its scrape targets, remote write; Grafana: Prometheus, Tempo, PostgreSQL; engines: their telemetry receivers and `modelEgressPorts`). Off by default: it also blocks what this spec cannot know about.', default: false }),
  sharedPrometheus: PolicyPeer('the shared Prometheus that scrapes the stack in operator mode without createPrometheus', 'monitoring', { 'app.kubernetes.io/name': 'prometheus' }),
  autoscaler: PolicyPeer('the KEDA operator, which queries Prometheus for autoscaled models', 'keda', { 'app.kubernetes.io/name': 'keda-operator' }),
  apiServerPorts: List(PORT, { description: 'With defaultDeny: TCP ports of the Kubernetes API server (its Service port and its endpoints\' port), which Prometheus reaches for discovery.', minItems: 1, maxItems: 4, default: [443, 6443], 'x-kubernetes-list-type': 'set' }),
  alertmanagerEgressPorts: List(PORT, { description: 'With defaultDeny: TCP ports the stack\'s Alertmanager may reach on any address (its receivers: webhooks, chat, paging services).', maxItems: 8, default: [443], 'x-kubernetes-list-type': 'set' }),
  modelEgressPorts: List(PORT, { description: 'With defaultDeny: TCP ports model pods may reach on any address (model downloads from a hub over HTTPS). Empty: none.', maxItems: 8, default: [443], 'x-kubernetes-list-type': 'set' }),
}, { description: 'NetworkPolicies of the stack.', default: {} });

export const SpecSchema = Obj({
  models: Type.Optional(List(ModelSchema, {
    description: 'Models to deploy and monitor.',
    maxItems: MAX_MODELS,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  })),
  targets: Type.Optional(List(TargetSchema, {
    description: 'Existing inference workloads to monitor without deploying them.',
    maxItems: MAX_TARGETS,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  })),
  monitoring: Monitoring,
  networkPolicy: NetworkPolicy,
  tracing: Tracing,
  tempo: Tempo,
  grafana: Grafana,
  gpuMetrics: GpuMetrics,
  alerts: Alerts,
  alerting: Alerting,
  slo: Type.Optional(Slo),
  benchmarks: Benchmarks,
}, {
  description: 'Inference workloads and the monitoring stack that watches them.',
  'x-kubernetes-validations': [
    {
      rule: "self.monitoring.mode == 'managed' || !has(self.alerting.endpoints)",
      message: 'alerting.endpoints is for managed mode: in operator mode the Prometheus resource names its Alertmanagers (kube-prometheus-stack\'s, or the stack\'s own with createPrometheus)',
      fieldPath: '.alerting.endpoints',
      reason: 'FieldValueForbidden',
    },
    {
      rule: '(has(self.models) ? size(self.models) : 0) + (has(self.targets) ? size(self.targets) : 0) > 0',
      message: 'at least one entry in models or targets is required',
      reason: 'FieldValueRequired',
    },
    {
      rule: '!has(self.models) || !has(self.targets) || self.targets.all(t, !self.models.exists(m, m.name == t.name))',
      message: 'target names must differ from model names',
      fieldPath: '.targets',
      reason: 'FieldValueDuplicate',
    },
    {
      rule: '!self.tracing.enabled || self.tempo.enabled || has(self.tracing.endpoint)',
      message: 'tracing without Tempo needs tracing.endpoint',
      fieldPath: '.tracing.endpoint',
      reason: 'FieldValueRequired',
    },
  ],
});

export type InferenceMonitoringSpec = Static<typeof SpecSchema>;
export type ModelSpec = Static<typeof ModelSchema>;
export type TargetSpec = Static<typeof TargetSchema>;

/** The resource as users write it. */
export interface InferenceMonitoringResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly spec: unknown;
}
