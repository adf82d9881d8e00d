"""SGLang: sglang/srt metrics collectors (SchedulerMetricsCollector, TokenizerMetricsCollector).

`python -m sglang.launch_server --tp-size 2 --ep-size 2 --dp-size 2 --enable-metrics
--enable-metrics-for-all-schedulers` runs four scheduler processes (dp_rank 0-1 x tp_rank 0-1,
moe_ep_rank = tp_rank) and one tokenizer manager; prometheus_client runs in multiprocess mode
and /metrics merges every process's files. Each scheduler of a DP group runs the same schedule,
so it reports the same gauges and observes the same queue times and retractions; the tokenizer
manager observes TTFT, inter-token latency, e2e latency and token counters once per request.
The scheduler labels are built by SGLang's own SchedulerMetricsCollector.init_new from the
runtime context (get_parallel() etc.), which is given here as namespaces with those values.
"""
import enum
import os
import shutil
import sys
import tempfile
import types

import stubimport
import common

args = common.arg_parser().parse_args()
SITE = args.site
srt = os.path.join(SITE, 'sglang', 'srt')
NEW = os.path.exists(os.path.join(srt, 'observability', 'metrics_collector.py'))
COLLECTOR = 'sglang.srt.observability.metrics_collector' if NEW else 'sglang.srt.metrics.collector'
REAL = [COLLECTOR, 'sglang.srt.observability.utils' if NEW else 'sglang.srt.metrics.utils', 'sglang.srt.utils.gauge_histogram',
        'sglang.srt.observability.scheduler_stage_metrics']
REAL = [m for m in REAL if os.path.exists(os.path.join(SITE, *m.split('.')) + '.py')]
multiproc = tempfile.mkdtemp(prefix='sglang-prom-')
os.environ['PROMETHEUS_MULTIPROC_DIR'] = multiproc
stubimport.install(REAL, ['sglang', 'torch', 'msgspec', 'transformers', 'triton'], SITE)

# Definitions the collector needs from modules that import torch: taken from the release's own source.
DisaggregationMode = stubimport.definition_from_source(os.path.join(srt, 'disaggregation', 'utils.py'), 'DisaggregationMode', {'Enum': enum.Enum})
utils_file = os.path.join(srt, 'utils', 'common.py') if os.path.exists(os.path.join(srt, 'utils', 'common.py')) else os.path.join(srt, 'utils.py')
get_bool_env_var = stubimport.definition_from_source(utils_file, 'get_bool_env_var', {'os': os, 'logger': types.SimpleNamespace(warning=print)})
stubimport.override('sglang.srt.disaggregation.utils', DisaggregationMode=DisaggregationMode)
stubimport.override('sglang.srt.utils', get_bool_env_var=get_bool_env_var)

MODEL = 'deepseek-ai/DeepSeek-V2-Lite'
DP, TP = 2, 2


class NS(types.SimpleNamespace):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return None


def server_args_defaults():
    """Literal defaults of the release's ServerArgs fields (server_args.py and, from 0.5.2x, arg_groups/fields/*.py), read without importing them."""
    import ast
    import glob
    out = {}
    for path in [os.path.join(srt, 'server_args.py')] + sorted(glob.glob(os.path.join(srt, 'arg_groups', 'fields', '*.py'))):
        with open(path) as f:
            tree = ast.parse(f.read())
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for n in cls.body:
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None:
                    value = n.value.args[0] if isinstance(n.value, ast.Call) and getattr(n.value.func, 'id', '') == 'field' and n.value.args else n.value
                    if isinstance(n.value, ast.Call) and any(k.arg == 'default' for k in n.value.keywords):
                        value = next(k.value for k in n.value.keywords if k.arg == 'default')
                    try:
                        out.setdefault(n.target.id, ast.literal_eval(value))
                    except (ValueError, TypeError, SyntaxError):
                        pass
    return out


# ServerArgs of the command line above, the other fields at the release's defaults.
server_args = NS(**server_args_defaults())
server_args.__dict__.update(served_model_name=MODEL, enable_metrics=True, enable_metrics_for_all_schedulers=True, tp_size=TP, dp_size=DP, ep_size=TP,
                 disaggregation_mode='null', enable_priority_scheduling=False, enable_lora=False, bucket_time_to_first_token=None,
                 bucket_inter_token_latency=None, bucket_e2e_request_latency=None, collect_tokens_histogram=False,
                 prompt_tokens_buckets=None, generation_tokens_buckets=None, extra_metric_labels=None, tokenizer_metrics_custom_labels_header=None,
                 tokenizer_metrics_allowed_custom_labels=None, stat_loggers=None, kv_events_config=None, enable_pd_role_switch=False,
                 enable_streaming_session=False)
parallel = NS()
context = types.SimpleNamespace(
    get_observability=lambda: server_args, get_parallel=lambda: parallel, get_disagg=lambda: server_args,
    get_serving=lambda: server_args, get_schedule=lambda: server_args, get_context=lambda: NS(is_config_namespace_published=lambda name: False),
    exports_expert_balancedness_to_prometheus=lambda: False, get_server_args=lambda: server_args)
if NEW:
    stubimport.override('sglang.srt.runtime_context', **vars(context))

import importlib  # noqa: E402
import prometheus_client  # noqa: E402
from prometheus_client import multiprocess  # noqa: E402

mc = importlib.import_module(COLLECTOR)
work = common.workload()


def queue_count(n):
    return mc.QueueCount(total=n) if hasattr(mc, 'QueueCount') else n


def child(fn):
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit('a collector process failed')
        return
    try:
        fn()
        os._exit(0)
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)


def scheduler(dp_rank, tp_rank, phase):
    rank = work['ranks'][dp_rank][phase]
    for k, v in dict(tp_rank=tp_rank, pp_rank=0, moe_ep_rank=tp_rank, dp_rank=dp_rank, attn_tp_rank=0, attn_cp_rank=0).items():
        setattr(parallel, k, v)
    if hasattr(mc.SchedulerMetricsCollector, 'init_new'):
        ctx = mc.SchedulerMetricsCollector.init_new(server_args=server_args, enable_priority_scheduling=False, enable_lora=False, enable_hierarchical_cache=False)
        collector = ctx.collector
    else:
        # As managers/scheduler_metrics_mixin.py builds them before init_new existed.
        labels = {'model_name': MODEL, 'engine_type': 'unified', 'tp_rank': tp_rank, 'pp_rank': 0, 'dp_rank': dp_rank}
        collector = mc.SchedulerMetricsCollector(labels=labels)
    stats = mc.SchedulerStats()
    stats.num_running_reqs = queue_count(rank['running'])
    stats.num_queue_reqs = queue_count(rank['waiting'])
    stats.token_usage = rank['kv_cache_usage']
    stats.cache_hit_rate = rank['prefix_cache_hit_rate']
    stats.num_retracted_reqs = rank.get('retracted', 0)
    collector.log_stats(stats)
    for r in rank['requests']:
        collector.observe_queue_time(r['queue_time'])
    if hasattr(collector, 'increment_retracted_reqs'):
        collector.increment_retracted_reqs(rank['retractions'], rank['retractions'] * 40, rank['retractions'] * 10)


def tokenizer(phase):
    if hasattr(mc, 'tokenizer_metric_labels'):
        labels = mc.tokenizer_metric_labels()
        collector = mc.TokenizerMetricsCollector(server_args=server_args, labels=labels)
    else:
        labels = {'model_name': MODEL}
        collector = mc.TokenizerMetricsCollector(labels=labels)
    for rank in work['ranks']:
        for r in rank[phase]['requests']:
            try:
                collector.observe_time_to_first_token(labels, r['ttft'], stream=True)
            except TypeError:
                collector.observe_time_to_first_token(labels, r['ttft'])
            collector.observe_inter_token_latency(labels, r['itl'] * (r['generation_tokens'] - 1), r['generation_tokens'] - 1)
            kw = dict(labels=labels, prompt_tokens=r['prompt_tokens'], generation_tokens=r['generation_tokens'], cached_tokens=0,
                      e2e_latency=r['e2e'], has_grammar=False)
            try:
                collector.observe_one_finished_request(**kw, is_streaming=True)
            except TypeError:
                collector.observe_one_finished_request(**kw)
        # Aborted requests: the counter child exists only from the first abort.
        for _ in range(rank[phase].get('aborted', 0)):
            collector.observe_one_aborted_request(labels)


# Retractions per DP group and interval (SGLang retracts decode requests when the KV cache runs out).
for rank, (before, after) in zip(work['ranks'], [(1, 6), (0, 3)]):
    rank['before']['retractions'], rank['after']['retractions'] = before, after
work['ranks'][1]['after']['aborted'] = 2

files = {}
for phase in ('before', 'after'):
    for dp in range(DP):
        for tp in range(TP):
            child(lambda: scheduler(dp, tp, phase))
    child(lambda: tokenizer(phase))
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    files['sglang.before.prom' if phase == 'before' else 'sglang.prom'] = prometheus_client.generate_latest(registry).decode('utf-8')
shutil.rmtree(multiproc, ignore_errors=True)

work['model_name'] = MODEL
work['layout'] = {'dp': DP, 'tp': TP, 'ep': TP, 'enable_metrics_for_all_schedulers': True,
                  'note': 'one /metrics (multiprocess mode) for 4 schedulers (dp_rank x tp_rank, moe_ep_rank = tp_rank) and the tokenizer manager; the schedulers of a DP group report the same values'}
common.write_outputs(args.out, files, work, common.provenance(
    'sglang', args.version, f'imported {COLLECTOR} (SchedulerMetricsCollector in 4 scheduler processes, TokenizerMetricsCollector in one), prometheus_client multiprocess mode',
    REAL, stubimport.stubbed(), [f'overridden in stubs: {m}: {", ".join(a)}' for m, a in stubimport.OVERRIDDEN.items()] +
    ['runtime context (get_parallel/get_observability/...) given as namespaces with the values of the command line above',
     'DisaggregationMode and get_bool_env_var: executed from the release\'s own source (disaggregation/utils.py, utils)']))
print(f'sglang {args.version}: {len(files)} expositions in {args.out}; stubbed: {", ".join(stubimport.stubbed())}')
