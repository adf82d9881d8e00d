"""SGLang across the pods of one LeaderWorkerSet group (`--nnodes 2 --node-rank R`): which pod serves which /metrics.

Every node sets PROMETHEUS_MULTIPROC_DIR when --enable-metrics (engine.py _set_envs_and_config, before the node-rank
split), so a node's /metrics is the MultiProcessCollector merge of that node's processes only:

  node 0    the HTTP server: the tokenizer manager (TTFT, ITL, e2e, token counters) and node 0's schedulers
  node >= 1 no tokenizer and no HTTP API: launch_dummy_health_check_server on the same --port, /health,
            /health_generate and /ping always 200, /metrics (the node's multiprocess registry) with --enable-metrics;
            it carries node 1's schedulers' series

Which scheduler writes what, per the release's scheduler code (layout.json sources):
  - every scheduler with --enable-metrics builds a SchedulerMetricsCollector (init_new), whose constructor pre-seeds
    children at 0 (prefill_effective_tokens_total, scheduler_{idle,process_cpu,stage}_seconds_total, dp_attention_*),
    emits its constants at start-up (emit_metrics_constants: max_total_num_tokens, num_pages, context_len, ...),
    observes every request's queue time (req_time_stats.set_forward_entry_time) and counts retractions;
  - only a scheduler with current_scheduler_metrics_enabled (attn_tp_rank == 0 and attn_cp_rank == 0, or
    --enable-metrics-for-all-schedulers) logs the scheduler gauges (log_stats: num_running_reqs, token_usage, ...).

Scheduler placement (tp/pp ranks per node, attention and MoE ranks, dp_rank) is computed by the release's own
functions, executed from its source: engine._calculate_rank_ranges, runtime_context.derive_spawn_ranks /
derive_attn_tp_size / derive_attention_ranks, dp_attention.compute_dp_attention_world_info. The series come from the
release's metrics_collector.py, as in drivers/sglang.py.

Modes (tp 4 over two nodes of 2 GPUs):
  tp            --tp 4: one attention-TP group of 4; only tp_rank 0 (node 0) logs the gauges; schedulers have no
                dp_rank label (no data-parallel controller: SpawnRanks.dp_rank None)
  dp-attention  --tp 4 --enable-dp-attention --dp 2 (0.5.23: the deprecated spelling of --attn-dp-size 2, dp 1):
                two attention-DP groups of 2; dp_rank 0 on node 0, dp_rank 1 on node 1, each group's attn_tp_rank 0 logs
"""
import enum
import inspect
import json
import os
import shutil
import tempfile
import types
import typing

import stubimport
import common
import multinode_common as mn

args = mn.arg_parser().parse_args()
SITE = args.site
srt = os.path.join(SITE, 'sglang', 'srt')
COLLECTOR = 'sglang.srt.observability.metrics_collector'
REAL = [COLLECTOR, 'sglang.srt.observability.utils', 'sglang.srt.utils.gauge_histogram', 'sglang.srt.observability.scheduler_stage_metrics']
REAL = [m for m in REAL if os.path.exists(os.path.join(SITE, *m.split('.')) + '.py')]
stubimport.install(REAL, ['sglang', 'torch', 'msgspec', 'transformers', 'triton'], SITE)

DisaggregationMode = stubimport.definition_from_source(os.path.join(srt, 'disaggregation', 'utils.py'), 'DisaggregationMode', {'Enum': enum.Enum})
get_bool_env_var = stubimport.definition_from_source(os.path.join(srt, 'utils', 'common.py'), 'get_bool_env_var', {'os': os, 'logger': types.SimpleNamespace(warning=print)})
stubimport.override('sglang.srt.disaggregation.utils', DisaggregationMode=DisaggregationMode)
stubimport.override('sglang.srt.utils', get_bool_env_var=get_bool_env_var)

# The release's placement functions.
RC = os.path.join(srt, 'runtime_context.py')
place = {'typing': typing, 'Tuple': typing.Tuple, 'Optional': typing.Optional}
for fn in ('derive_attn_tp_size', 'derive_attention_ranks', 'derive_spawn_ranks'):
    place[fn] = stubimport.definition_from_source(RC, fn, place)
compute_dp_attention_world_info = stubimport.definition_from_source(os.path.join(srt, 'layers', 'dp_attention.py'), 'compute_dp_attention_world_info', place)

MODEL = 'deepseek-ai/DeepSeek-V2-Lite'
PORT, DIST_PORT, NNODES, TP = 30000, 20000, 2, 4
LEADER = '$(LWS_LEADER_ADDRESS)'
src = mn.Source(SITE)
cat = mn.Catalog(args.cli_catalog, 'launch_server')


class NS(types.SimpleNamespace):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return None


def server_args_defaults():
    """Literal defaults of the release's ServerArgs fields (as drivers/sglang.py reads them)."""
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


server_args = NS(**server_args_defaults())
server_args.__dict__.update(served_model_name=MODEL, enable_metrics=True, enable_metrics_for_all_schedulers=False,
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
stubimport.override('sglang.srt.runtime_context', **vars(context))

import importlib  # noqa: E402
import prometheus_client  # noqa: E402

mc = importlib.import_module(COLLECTOR)
ENGINE = 'sglang/srt/entrypoints/engine.py'
SCHED = 'sglang/srt/managers/scheduler.py'
REPORTER = 'sglang/srt/managers/scheduler_components/metrics_reporter.py'
MC = 'sglang/srt/observability/metrics_collector.py'
COMMON = 'sglang/srt/utils/common.py'
DPC = 'sglang/srt/managers/data_parallel_controller.py'


def calculate_rank_ranges(widths, node_rank):
    fn = stubimport.definition_from_source(os.path.join(SITE, ENGINE), '_calculate_rank_ranges',
                                           {'get_parallel': lambda: widths, 'Tuple': typing.Tuple})
    return fn(node_rank)


def placement(ns, node_rank):
    """The schedulers a node launches and their ranks, by the release's own functions."""
    # handle_deprecated_dp_attention: `--dp-size N --enable-dp-attention` -> attn_dp_size N, dp_size 1.
    attn_dp, dp = (ns.dp_size, 1) if ns.enable_dp_attention and ns.attn_dp_size == 1 else (ns.attn_dp_size, ns.dp_size)
    widths = NS(tp_size=ns.tp_size, pp_size=ns.pp_size, nnodes=ns.nnodes, attn_dp_size=attn_dp, dp_size=dp, attn_cp_size=1, moe_dp_size=1, moe_ep_size=1)
    attn_tp = place['derive_attn_tp_size'](tp_size=ns.tp_size, attn_cp_size=1, attn_dp_size=attn_dp)
    pp_range, tp_range, _, _ = calculate_rank_ranges(widths, node_rank)
    out = []
    for pp_rank in pp_range:
        for tp_rank in tp_range:
            world_rank = 0 + ns.tp_size * pp_rank + tp_rank  # runtime_context.spawn_world_rank (ep_join_rank_offset 0)
            ranks = place['derive_spawn_ranks'](world_rank=world_rank, tp_size=ns.tp_size, ep_join_rank_offset=0, attn_cp_size=1,
                                                attn_tp_size=attn_tp, moe_dp_size=1, moe_ep_size=1)
            attn_tp_rank, attn_dp_rank = place['derive_attention_ranks'](tp_rank=ranks['tp_rank'], attn_tp_size=attn_tp, attn_cp_size=1)
            # engine._launch_scheduler_processes: no DP controller -> dp_rank None; with attention DP the controller
            # gives each scheduler compute_dp_attention_world_info's attention-DP rank.
            dp_rank = None
            if attn_dp * dp > 1:
                _, _, dp_rank, _ = compute_dp_attention_world_info(tp_rank, ns.tp_size, attn_dp, 1)
            out.append({'tp_rank': ranks['tp_rank'], 'pp_rank': ranks['pp_rank'], 'moe_ep_rank': ranks['moe_ep_rank'], 'dp_rank': dp_rank,
                        'attn_tp_rank': attn_tp_rank, 'attn_dp_rank': attn_dp_rank, 'attn_cp_rank': ranks['attn_cp_rank']})
    return out, {'attn_dp_size': attn_dp, 'dp_size': dp, 'attn_tp_size': attn_tp}


def queue_count(n):
    return mc.QueueCount(total=n)


CONSTANTS = dict(max_total_num_tokens=500000, max_total_num_tokens_swa=None, weight_memory_usage_gb=15.5, kv_cache_memory_usage_gb=40.25,
                 graph_memory_usage_gb={'decode': 1.25}, max_running_requests_under_SLO=None, page_size=1, num_pages=500000,
                 context_len=163840, startup_available_gpu_memory_gb=70.5)


def scheduler_process(d, rank, group):
    """One scheduler process of the node, alive for the interval: its collector (init_new) and what it writes per phase."""
    state = {}

    def step(phase):
        g = group[phase]
        if 'ctx' not in state:
            mn.use_multiproc_dir(d)
            for k, v in rank.items():
                setattr(parallel, k, v)
            state['ctx'] = mc.SchedulerMetricsCollector.init_new(server_args=server_args, enable_priority_scheduling=False, enable_lora=False,
                                                                 enable_hierarchical_cache=False)
            # Scheduler.__init__ -> emit_metrics_constants(), every scheduler with --enable-metrics.
            collector = state['ctx'].collector
            sig = inspect.signature(collector.emit_constants).parameters
            collector.emit_constants(**{k: v for k, v in CONSTANTS.items() if k in sig})
        ctx = state['ctx']
        collector = ctx.collector
        for r in g['requests']:
            collector.observe_queue_time(r['queue_time'])
        if g.get('retractions'):
            collector.increment_retracted_reqs(g['retractions'], g['retractions'] * 40, g['retractions'] * 10)
        if ctx.current_scheduler_metrics_enabled:
            stats = mc.SchedulerStats()
            stats.num_running_reqs = queue_count(g['running'])
            stats.num_queue_reqs = queue_count(g['waiting'])
            stats.token_usage = g['kv_cache_usage']
            stats.cache_hit_rate = g['prefix_cache_hit_rate']
            stats.num_retracted_reqs = g.get('retracted', 0)
            collector.log_stats(stats)
        return bool(ctx.current_scheduler_metrics_enabled)
    return step


def tokenizer_process(d, groups):
    """The tokenizer manager (node 0): TTFT, ITL, e2e and token counters once per request of every DP group."""
    state = {}

    def step(phase):
        if 'collector' not in state:
            mn.use_multiproc_dir(d)
            state['labels'] = mc.tokenizer_metric_labels()
            state['collector'] = mc.TokenizerMetricsCollector(server_args=server_args, labels=state['labels'])
        labels, collector = state['labels'], state['collector']
        for g in groups:
            for r in g[phase]['requests']:
                collector.observe_time_to_first_token(labels, r['ttft'], stream=True)
                collector.observe_inter_token_latency(labels, r['itl'] * (r['generation_tokens'] - 1), r['generation_tokens'] - 1)
                collector.observe_one_finished_request(labels=labels, prompt_tokens=r['prompt_tokens'], generation_tokens=r['generation_tokens'],
                                                       cached_tokens=0, e2e_latency=r['e2e'], has_grammar=False, is_streaming=True)
            for _ in range(g[phase].get('aborted', 0)):
                collector.observe_one_aborted_request(labels)
    return step


RANK_LABELS = ['tp_rank', 'pp_rank', 'dp_rank', 'moe_ep_rank']
common_sources = {
    'PROMETHEUS_MULTIPROC_DIR on every node with --enable-metrics (before the node-rank split)': src.ref(ENGINE, 'set_prometheus_multiproc_dir()', after='def _set_envs_and_config'),
    'node_rank >= 1: no tokenizer, the dummy health server on --host/--port': src.ref(ENGINE, 'if get_parallel().node_rank >= 1:'),
    'dummy server started with enable_metrics': src.ref(ENGINE, 'launch_dummy_health_check_server('),
    'dummy server routes: /ping, /health, /health_generate always 200; /metrics if enable_metrics': src.ref(COMMON, 'def launch_dummy_health_check_server'),
    'its /metrics: the multiprocess registry': src.ref(COMMON, 'multiprocess.MultiProcessCollector(registry)', after='def add_prometheus_middleware'),
    'tp/pp ranks a node launches': src.ref(ENGINE, 'def _calculate_rank_ranges'),
    'no data-parallel controller: scheduler dp_rank None': src.ref(ENGINE, 'use_dp_controller = ('),
    'attention DP: dp_rank from compute_dp_attention_world_info': src.ref(DPC, '_, _, dp_rank, _ = compute_dp_attention_world_info('),
    'dp_rank label only when not None': src.ref(MC, 'if parallel.dp_rank is not None:', after='def init_new'),
    'logging rank: attn_tp_rank == 0 and attn_cp_rank == 0 (or all schedulers)': src.ref(MC, 'parallel.attn_tp_rank == 0 and parallel.attn_cp_rank == 0', after='def init_new'),
    'every scheduler with --enable-metrics has a collector': src.ref(MC, 'if enable_metrics:', after='def init_new'),
    'collector pre-seeds children at 0': src.ref(MC, 'for mode in ("input", "device_hit", "host_hit", "storage_hit"):'),
    'constants emitted by every scheduler at start-up': src.ref(SCHED, 'self.emit_metrics_constants()'),
    'queue time observed by every scheduler with metrics': src.ref(SCHED, 'req.time_stats.set_metrics_collector(self.metrics_collector)'),
    'retractions counted by every scheduler with metrics': src.ref(SCHED, 'if self.metrics_reporter.enable_metrics and len(retracted_reqs) > 0:'),
    'gauges (log_stats) only with current_scheduler_metrics_enabled': src.ref(REPORTER, 'if self.current_scheduler_metrics_enabled:'),
}

files, layouts, fed_stats = {}, {}, {}
for name, extra, note in (
        ('tp', [], 'Tensor parallel 4 over two nodes (2 GPUs each), one attention-TP group.'),
        ('dp-attention', ['--enable-dp-attention', '--dp', '2'],
         'Tensor parallel 4 over two nodes with DP attention 2 (`--enable-dp-attention --dp 2`, in 0.5.23 the deprecated spelling of '
         '`--attn-dp-size 2`): attention-DP rank 0 on node 0, rank 1 on node 1.')):
    pods, fed = [], {}
    ns0 = cat.parse(['--model-path', MODEL, '--tp', str(TP), '--nnodes', str(NNODES), '--node-rank', '0'] + extra)
    _, widths = placement(ns0, 0)
    n_groups = widths['attn_dp_size'] * widths['dp_size']
    work = mn.workload(n_groups)
    for rank, (before, after) in zip(work['ranks'], [(1, 6), (0, 3)]):
        rank['before']['retractions'], rank['after']['retractions'] = before, after
    if n_groups > 1:
        work['ranks'][1]['after']['aborted'] = 2
    params = {'tp': TP, 'pp': 1, 'nnodes': NNODES, 'dp': widths['dp_size'], 'attn_dp': widths['attn_dp_size'], 'attn_cp': 1, 'gpus_per_node': TP // NNODES}
    for node in range(NNODES):
        argv = ['python3', '-m', 'sglang.launch_server', '--model-path', MODEL, '--tp', str(TP), '--dist-init-addr', f'{LEADER}:{DIST_PORT}',
                '--nnodes', str(NNODES), '--node-rank', str(node), '--host', '0.0.0.0', '--port', str(PORT), '--enable-metrics'] + extra
        ns = cat.parse(argv[3:])
        schedulers, _ = placement(ns, node)
        d = tempfile.mkdtemp(prefix='sglang-mn-prom-')
        procs = [scheduler_process(d, s, work['ranks'][s['dp_rank'] or 0]) for s in schedulers]
        if node == 0:
            procs.append(tokenizer_process(d, work['ranks']))
        try:
            run = mn.processes(procs, ('before', 'after'), lambda phase: mn.multiproc_scrape(d))
        finally:
            shutil.rmtree(d, ignore_errors=True)
        texts = {ph: run[ph]['scrape'] for ph in ('before', 'after')}
        logging = {s['tp_rank']: run['after']['results'][i] for i, s in enumerate(schedulers)}
        base = f'pod{node}-port{PORT}'
        fed[base + '.prom'], fed[base + '.before.prom'] = texts['after'], texts['before']
        gauge_text = '\n'.join(l for l in texts['after'].splitlines() if l.startswith('sglang:num_running_reqs'))
        port = {'port': PORT, 'portFlag': '--port', 'offset': 0, 'file': base + '.prom', 'before': base + '.before.prom',
                'labels': mn.label_values(texts['after'], RANK_LABELS, 'sglang:'),
                'gaugeLabels': mn.label_values(gauge_text, RANK_LABELS, 'sglang:num_running_reqs'),
                'tokenizer': node == 0}
        if node == 0:
            port.update(server='api', note='the HTTP server (tokenizer manager) and node 0\'s schedulers, one multiprocess registry')
        else:
            port.update(server='sglang-dummy-health', paths=['/health', '/health_generate', '/metrics', '/ping'], alwaysHealthy=True,
                        metricsOnlyWith='--enable-metrics',
                        note='launch_dummy_health_check_server: /health, /health_generate, /ping always 200 (no engine check); '
                             '/metrics = this node\'s schedulers (multiprocess registry); no tokenizer series')
        pods.append({'index': node, 'role': 'leader' if node == 0 else 'worker', 'program': 'sglang.launch_server', 'argv': argv,
                     'params': {'node_rank': node}, 'httpServer': True, 'metricsPorts': [port], 'healthOnlyPorts': [],
                     'schedulers': [{**s, 'logsGauges': logging[s['tp_rank']]} for s in schedulers]})
    layouts[name] = {'engine': 'sglang', 'version': args.version, 'mode': name, 'description': note, 'groupSize': NNODES, 'params': params,
                     'pods': pods, 'sources': common_sources, 'notes': [
                         'cpu_monitor (start_cpu_monitor_thread) and HTTP-request metrics are not recorded (as in the single-node recording)',
                         'every TP rank of a DP group observes the same requests\' queue times and retractions: sum them with '
                         'max without (tp_rank, pp_rank, moe_ep_rank) first']}
    work['model_name'] = MODEL
    files[name], fed_stats[name] = fed, work

RULES = [
    ('tp-pp-divisible-by-nnodes', '1 == 1', '(tp * pp) % nnodes == 0', 'sglang/srt/arg_groups/validation_hook.py', 'assert (cfg.tp_size * cfg.pp_size) % cfg.nnodes == 0'),
    ('no-multi-node-dp-replicas', '1 == 1', 'not (dp > 1 and nnodes != 1)', 'sglang/srt/arg_groups/validation_hook.py', 'assert not (cfg.dp_size > 1 and cfg.nnodes != 1)'),
    ('tp-divisible-by-attn-dp', 'attn_dp > 1', 'tp % (attn_dp * attn_cp) == 0', 'sglang/srt/arg_groups/parallel_hook.py', 'assert cfg.tp_size % (cfg.attn_dp_size * view.attn_cp_size) == 0'),
]
rules = []
for rid, when, require, rel, anchor in RULES:
    where, line = src.find(rel, anchor)
    rules.append({'id': rid, 'when': when, 'require': require, 'source': where, 'code': line})
resolutions = [{'id': 'deprecated-dp-attention', 'effect': '--dp-size N --enable-dp-attention -> attn_dp_size N, dp_size 1 (before any check)',
                'source': src.ref('sglang/srt/arg_groups/parallel_hook.py', 'def handle_deprecated_dp_attention')}]
for layout in layouts.values():
    mn.check_rules(rules, layout, 'sglang.launch_server')

out = os.path.join(args.out, 'multinode')
for name, layout in layouts.items():
    mn.write_mode(out, name, files[name], layout, fed_stats[name])
mn.write_json(os.path.join(out, 'rules.json'), {'engine': 'sglang', 'version': args.version, 'program': 'sglang.launch_server', 'rules': rules,
                                                'resolutions': resolutions,
                                                'note': 'each rule: the release refuses a pod whose parameters make `when` true and `require` false '
                                                        '(dp/attn_dp after the resolutions)'})
mn.write_json(os.path.join(out, 'provenance.json'), common.provenance(
    'sglang', args.version,
    f'imported {COLLECTOR}: one forked process per scheduler of each node (SchedulerMetricsCollector.init_new, emit_constants, queue '
    'times, retractions, and log_stats where current_scheduler_metrics_enabled) and the TokenizerMetricsCollector on node 0, one '
    'prometheus_client multiprocess directory per node; placement by the release\'s own rank functions',
    REAL, stubimport.stubbed(),
    [f'overridden in stubs: {m}: {", ".join(a)}' for m, a in stubimport.OVERRIDDEN.items()] +
    ['runtime context (get_parallel/get_observability/...) given as namespaces with each scheduler\'s ranks and the command line\'s values',
     'engine._calculate_rank_ranges, runtime_context.derive_spawn_ranks/derive_attn_tp_size/derive_attention_ranks and '
     'dp_attention.compute_dp_attention_world_info executed from the release\'s source',
     'constants fed to emit_constants are synthetic (max_total_num_tokens 500000, context_len 163840, ...)']))
print(f'sglang {args.version} multi-node: {", ".join(f"{k} ({len(v)} files)" for k, v in files.items())} in {out}')
