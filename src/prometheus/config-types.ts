/**
 * The subset of Prometheus' configuration file (`prometheus.yml`, Prometheus 3)
 * that the stack generates, as types. Field names are Prometheus' own.
 * @see https://prometheus.io/docs/prometheus/latest/configuration/configuration/
 */

export interface PrometheusConfig {
  global: GlobalConfig;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
  remote_write?: RemoteWriteConfig[];
  otlp?: OtlpConfig;
  storage?: { tsdb?: { out_of_order_time_window?: string } };
  alerting?: { alertmanagers: AlertmanagerTargetConfig[] };
}

/** One `alerting.alertmanagers` entry: where Prometheus sends alerts. */
export interface AlertmanagerTargetConfig {
  scheme?: 'http' | 'https';
  path_prefix?: string;
  api_version?: 'v2';
  static_configs: Array<{ targets: string[] }>;
  /** Credentials from a mounted file, never inline. */
  authorization?: { type?: 'Bearer'; credentials_file: string };
  tls_config?: { ca_file: string };
}

export interface GlobalConfig {
  scrape_interval: string;
  evaluation_interval: string;
  external_labels?: Record<string, string>;
}

export type RelabelAction = 'replace' | 'keep' | 'drop' | 'labelmap' | 'labeldrop' | 'labelkeep' | 'hashmod' | 'keepequal' | 'dropequal' | 'lowercase' | 'uppercase';

export interface RelabelConfig {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
  action?: RelabelAction;
}

export interface KubernetesSdConfig {
  role: 'pod' | 'service' | 'endpoints' | 'endpointslice' | 'node';
  namespaces?: { names: string[] };
  selectors?: Array<{ role: KubernetesSdConfig['role']; label?: string; field?: string }>;
}

export interface StaticConfig {
  targets: string[];
  labels?: Record<string, string>;
}

export interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  metrics_path?: string;
  scheme?: 'http' | 'https';
  honor_labels?: boolean;
  /** Keep the timestamps a target writes on its samples. @default true (Prometheus' default) */
  honor_timestamps?: boolean;
  kubernetes_sd_configs?: KubernetesSdConfig[];
  static_configs?: StaticConfig[];
  relabel_configs?: RelabelConfig[];
  metric_relabel_configs?: RelabelConfig[];
}

export interface RemoteWriteConfig {
  url: string;
  name?: string;
  basic_auth?: { username_file: string; password_file: string };
  authorization?: { type: 'Bearer'; credentials_file: string };
  tls_config?: TlsConfig;
}

export interface TlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
}

export interface OtlpConfig {
  /** Resource attributes copied onto every pushed series as labels. */
  promote_resource_attributes?: string[];
  /** How OTLP names become Prometheus names; the default keeps `_total` and unit suffixes. */
  translation_strategy?: 'UnderscoreEscapingWithSuffixes' | 'UnderscoreEscapingWithoutSuffixes' | 'NoUTF8EscapingWithSuffixes' | 'NoTranslation';
}

/** A Prometheus rule file. */
export interface RuleFile {
  groups: RuleGroup[];
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export type Rule = RecordingRule | AlertingRule;

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
