"""vLLM across the pods of one LeaderWorkerSet group: which pod serves which /metrics, from the release's code.

The series come from the release's own PrometheusStatLogger (vllm/v1/metrics/loggers.py) and registry
(vllm/v1/metrics/prometheus.py get_prometheus_registry), as in drivers/vllm.py; what this driver adds is
the layout, each fact read off the release's launch code (file:line in layout.json `sources`):

  ray            leader `vllm serve --distributed-executor-backend ray --tensor-parallel-size 2`, worker
                 `ray start --address=... --block`: the worker runs no vLLM process of its own (Ray actors
                 run the model); one API server on the leader, engine "0"
  mp             `--nnodes 2 --node-rank R --master-addr ...`, worker `--headless`: run_headless starts only a
                 MultiprocExecutor on node_rank_within_dp > 0, no API server; leader as above
  dp-hybrid      --data-parallel-size 4 --data-parallel-size-local 2 --data-parallel-start-rank 2*R
                 --data-parallel-hybrid-lb: per pod, api_server_count = data_parallel_size_local API servers
                 (multiprocess mode) whose engine client manages the pod's engines [start, start+local)
  dp-multi-port  the same with --data-parallel-multi-port-external-lb: a supervisor per pod starts one
                 API server per local rank on --port + local_rank, each an external-LB engine of global
                 rank start + local_rank (its own single-process registry); the supervisor's port serves
                 only /health, /ready and /readyz

The supervisor's child command lines are built by the release's own functions
(dp_supervisor.validate_multi_port_external_lb_args and _build_vllm_dp_server_args, executed from its source).
"""
import argparse
import copy
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import types

import stubimport
import common
import multinode_common as mn

args = mn.arg_parser().parse_args()
SITE = args.site
REAL = ['vllm.envs', 'vllm.v1.engine', 'vllm.v1.metrics.loggers', 'vllm.v1.metrics.stats', 'vllm.v1.metrics.buckets',
        'vllm.v1.metrics.utils', 'vllm.v1.metrics.cache_hit_source', 'vllm.v1.metrics.prometheus', 'vllm.v1.spec_decode.metrics']
REAL = [m for m in REAL if os.path.exists(os.path.join(SITE, *m.split('.'))) or os.path.exists(os.path.join(SITE, *m.split('.')) + '.py')]
stubimport.install(REAL, ['vllm', 'torch', 'msgspec', 'transformers', 'triton'], SITE)

import prometheus_client  # noqa: E402
from vllm.v1.engine import FinishReason  # noqa: E402
from vllm.v1.metrics import loggers, stats  # noqa: E402
from vllm.v1.metrics import prometheus as vllm_prometheus  # noqa: E402

MODEL = 'deepseek-ai/DeepSeek-V2-Lite'  # a MoE model: external-LB data parallelism refuses dense models (arg_utils.py)
PORT, RPC_PORT, SUPERVISOR_PORT, MASTER_PORT = 8000, 5555, 8208, 29501
LEADER = '$(LWS_LEADER_ADDRESS)'
src = mn.Source(SITE)
cat = mn.Catalog(args.cli_catalog, 'serve')
REASON = {'stop': FinishReason.STOP, 'error': getattr(FinishReason, 'ERROR', FinishReason.ABORT)}


class NS(types.SimpleNamespace):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return None


def config(dp, tp):
    return NS(
        model_config=NS(served_model_name=MODEL, max_model_len=8192, is_diffusion=False),
        cache_config=NS(num_gpu_blocks=4096, block_size=16),
        observability_config=NS(show_hidden_metrics=False, kv_cache_metrics=False, cudagraph_metrics=False, enable_mfu_metrics=False,
                                custom_histogram_buckets=None, show_hidden_metrics_for_version=None),
        device_config=NS(device_type='cuda'),
        parallel_config=NS(data_parallel_size=dp, tensor_parallel_size=tp),
        compilation_config=NS(),
    )


def fields(cls, **values):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def scheduler_stats(g):
    s = fields(stats.SchedulerStats, num_running_reqs=g['running'], num_waiting_reqs=g['waiting'], kv_cache_usage=g['kv_cache_usage'],
               gpu_cache_usage=g['kv_cache_usage'])
    pcs = getattr(s, 'prefix_cache_stats', None)
    if pcs is not None:
        pcs.queries, pcs.hits = 1000, int(1000 * g['prefix_cache_hit_rate'])
    return s


def iteration(requests):
    """The IterationStats of the requests' steps (as drivers/vllm.py feeds them)."""
    out = []
    for r in requests:
        first = stats.IterationStats()
        first.num_generation_tokens = 1
        first.prompt_token_stats.computed = r['prompt_tokens']
        first.prompt_token_stats.total = r['prompt_tokens']
        first.time_to_first_tokens_iter.append(r['ttft'])
        out.append(first)
        for i in range(r['generation_tokens'] - 1):
            it = stats.IterationStats()
            it.num_generation_tokens = 1
            it.inter_token_latencies_iter.append(r['itl'])
            if i == r['generation_tokens'] - 2:
                it.max_num_generation_tokens_iter.append(r['generation_tokens'])
                it.n_params_iter.append(1)
                prefill = max(r['ttft'] - r['queue_time'], 0.0)
                decode = r['e2e'] - r['ttft']
                it.finished_requests.append(fields(
                    stats.FinishedRequestStats, finish_reason=REASON[r['finish_reason']], e2e_latency=r['e2e'],
                    num_prompt_tokens=r['prompt_tokens'], num_generation_tokens=r['generation_tokens'], max_tokens_param=r['generation_tokens'],
                    queued_time=r['queue_time'], prefill_time=prefill, inference_time=prefill + decode, decode_time=decode,
                    mean_time_per_output_token=r['itl']))
            out.append(it)
    return out


def feed(logger, engine_ranks, phase, server_index, servers):
    """One API server's share of a phase: the requests it handled (spread over the pod's API servers), and,
    from API server 0, the engines' scheduler stats (gauges are `mostrecent` across the pod's processes)."""
    for rank in engine_ranks:
        mine = [r for i, r in enumerate(rank[phase]['requests']) if i % servers == server_index]
        for it in iteration(mine):
            logger.record(scheduler_stats=None, iteration_stats=it, engine_idx=rank['rank'])
        if server_index == 0:
            logger.record(scheduler_stats=scheduler_stats(rank[phase]), iteration_stats=None, engine_idx=rank['rank'])


def single_api_server(cfg, engine_ranks):
    """One API server process, no PROMETHEUS_MULTIPROC_DIR: /metrics is get_prometheus_registry() = the default REGISTRY."""
    state = {}

    def server(phase):
        if 'logger' not in state:
            state['logger'] = loggers.PrometheusStatLogger(cfg, engine_indexes=[r['rank'] for r in engine_ranks])
        feed(state['logger'], engine_ranks, phase, 0, 1)
        return prometheus_client.generate_latest(vllm_prometheus.get_prometheus_registry()).decode()
    run = mn.processes([server], PHASES)
    return {ph: run[ph]['results'][0] for ph in PHASES}


def multi_api_servers(cfg, engine_ranks, servers):
    """`servers` API server processes of one pod in multiprocess mode (run_multi_api_server ->
    setup_multiprocess_prometheus): each its own PrometheusStatLogger over the pod's engines."""
    d = tempfile.mkdtemp(prefix='vllm-mn-prom-')

    def server(index):
        state = {}

        def step(phase):
            if 'logger' not in state:
                mn.use_multiproc_dir(d)
                state['logger'] = loggers.PrometheusStatLogger(cfg, engine_indexes=[r['rank'] for r in engine_ranks])
            feed(state['logger'], engine_ranks, phase, index, servers)
        return step

    def scrape(phase):
        # The /metrics handler's registry, vllm.v1.metrics.prometheus.get_prometheus_registry(), in multiprocess mode.
        os.environ['PROMETHEUS_MULTIPROC_DIR'] = d
        try:
            return prometheus_client.generate_latest(vllm_prometheus.get_prometheus_registry()).decode()
        finally:
            del os.environ['PROMETHEUS_MULTIPROC_DIR']
    try:
        run = mn.processes([server(i) for i in range(servers)], PHASES, scrape)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return {ph: run[ph]['scrape'] for ph in PHASES}


PHASES = ('before', 'after')


def argv_of(flags):
    return ['vllm', 'serve', MODEL, '--host', '0.0.0.0', '--port', str(PORT)] + flags


def parsed(argv):
    ns = cat.parse(argv[2:])
    return ns


SERVE_PY = 'vllm/entrypoints/cli/serve.py'
ARG_UTILS = 'vllm/engine/arg_utils.py'
PARALLEL = 'vllm/config/parallel.py'
CORE_CLIENT = 'vllm/v1/engine/core_client.py'
SUPERVISOR = 'vllm/entrypoints/launchers/dp_supervisor.py'
ASYNC_LLM = 'vllm/v1/engine/async_llm.py'


def api_server_count(ns):
    """serve.py ServeSubcommand.cmd: the LB mode and the default --api-server-count (not a function of its own there)."""
    if ns.headless:
        return 0, 'headless'
    is_external_lb = ns.data_parallel_external_lb or ns.data_parallel_rank is not None
    if not ns.data_parallel_hybrid_lb and not ns.data_parallel_multi_port_external_lb:
        is_hybrid, is_multi = ns.data_parallel_start_rank is not None, False
    else:
        is_hybrid, is_multi = ns.data_parallel_hybrid_lb, ns.data_parallel_multi_port_external_lb
    if ns.api_server_count is not None:
        return ns.api_server_count, 'explicit'
    if is_multi or is_external_lb:
        return 1, 'multi-port' if is_multi else 'external'
    if is_hybrid:
        return ns.data_parallel_size_local or 1, 'hybrid'
    return ns.data_parallel_size, 'internal'


files, layouts = {}, {}
common_sources = {
    'stat logger engine label = str(engine index)': src.ref('vllm/v1/metrics/loggers.py', 'idx: [model_name, str(idx)] for idx in engine_indexes'),
    'stat loggers over the client\'s engine_ranks_managed': src.ref(ASYNC_LLM, 'engine_idxs=self.engine_core.engine_ranks_managed'),
    'engine_ranks_managed = range(dp_rank, dp_rank + num_ranks), num_ranks = local size when local_engines_only': src.ref(CORE_CLIENT, 'num_ranks = dp_local_size if parallel_config.local_engines_only else dp_size'),
    'local_engines_only = external or hybrid LB': src.ref(PARALLEL, 'return self.data_parallel_external_lb or self.data_parallel_hybrid_lb'),
    'api_server_count default by LB mode': src.ref(SERVE_PY, 'if args.api_server_count is None:'),
    'multiprocess prometheus only with more than one API server': src.ref(SERVE_PY, 'setup_multiprocess_prometheus()', after='def run_multi_api_server'),
    '/metrics registry: multiprocess collector or the default REGISTRY': src.ref('vllm/v1/metrics/prometheus.py', 'def get_prometheus_registry'),
}


def mode(name, description, params, pods, fed, sources, notes=()):
    layouts[name] = {'engine': 'vllm', 'version': args.version, 'mode': name, 'description': description, 'groupSize': len(pods),
                     'params': params, 'pods': pods, 'sources': {**common_sources, **sources}, 'notes': list(notes)}
    files[name] = fed


def metrics_port(pod, port, flag, offset, text_by_phase, kind, extra=None):
    base = f'pod{pod}-port{port}'
    entry = {'port': port, 'portFlag': flag, 'offset': offset, 'server': kind, 'file': base + '.prom', 'before': base + '.before.prom',
             'labels': mn.label_values(text_by_phase['after'], ['engine'], 'vllm:')}
    entry.update(extra or {})
    return entry, {base + '.prom': text_by_phase['after'], base + '.before.prom': text_by_phase['before']}


# ---- ray: TP 2 across two nodes, one GPU each, Ray's cluster spanning the pods -----------------------------------
work1 = mn.workload(1)
leader = argv_of(['--tensor-parallel-size', '2', '--distributed-executor-backend', 'ray'])
ns = parsed(leader)
count, lb = api_server_count(ns)
assert (count, lb) == (1, 'internal'), (count, lb)
texts = single_api_server(config(1, 2), work1['ranks'])
port0, fed0 = metrics_port(0, PORT, '--port', 0, texts, 'api', {'apiServers': 1, 'multiprocess': False})
mode('ray', 'vLLM with the Ray executor: tensor parallel 2 across the two pods (one GPU each). The leader runs `ray start --head` '
     'and `vllm serve`; the worker only joins the Ray cluster (`ray start --address=<leader>:6379 --block`).',
     {'tensor': 2, 'pipeline': 1, 'pcp': 1, 'data': 1, 'data_local': 1, 'nnodes': 1, 'executor': 'ray', 'dp_backend': 'mp', 'gpus_per_node': 1,
      'hybrid_lb': 0, 'external_lb': 0, 'multi_port': 0, 'headless': 0, 'api_server_count': count, 'is_moe': 1},
     [{'index': 0, 'role': 'leader', 'program': 'vllm serve', 'argv': leader, 'params': {'node_rank': 0},
       'prelude': ['ray', 'start', '--head', '--port=6379'],
       'httpServer': True, 'metricsPorts': [port0], 'healthOnlyPorts': [], 'engines': [0]},
      {'index': 1, 'role': 'worker', 'program': 'ray start', 'argv': ['ray', 'start', f'--address={LEADER}:6379', '--block'], 'params': {'node_rank': 0},
       'httpServer': False, 'metricsPorts': [], 'healthOnlyPorts': [], 'engines': [],
       'note': "no vLLM process of its own: the Ray worker hosts the executor's RayWorkerProc actors, which create no Prometheus "
               "metrics (vLLM's Ray metric wrappers, v1/metrics/ray_wrappers.py, are stat loggers for Ray Serve, not used by vllm serve); "
               "Ray's own metrics agent (ray start --metrics-export-port) is out of scope"}],
     fed0,
     {'nnodes > 1 needs the mp/uni/external_launcher executor (so Ray spans nodes with nnodes 1)': src.ref(PARALLEL, 'nnodes > 1 can only be set when distributed executor'),
      'the Ray executor\'s workers: RayWorkerProc actors (no metrics of their own)': src.ref('vllm/v1/executor/ray_executor_v2.py', 'class RayWorkerProc(WorkerProc):'),
      'a single API server runs in the serve process': src.ref(SERVE_PY, 'uvloop.run(run_server(args))', after='# Single API server')},
     ['the worker pod command is the LWS example\'s (`multi-node-serving.sh worker`, which runs `ray start --address=... --block`)'])

# ---- mp: TP 2 across two nodes with vLLM's own multiprocessing executor -------------------------------------------
mp_flags = ['--tensor-parallel-size', '2', '--nnodes', '2', '--master-addr', LEADER, '--master-port', str(MASTER_PORT)]
pods = []
fed = {}
for r in range(2):
    argv = argv_of(mp_flags + ['--node-rank', str(r)] + (['--headless'] if r else []))
    ns = parsed(argv)
    count, lb = api_server_count(ns)
    if r == 0:
        assert (count, lb) == (1, 'internal'), (count, lb)
        texts = single_api_server(config(1, 2), work1['ranks'])
        p, f = metrics_port(0, PORT, '--port', 0, texts, 'api', {'apiServers': 1, 'multiprocess': False})
        fed.update(f)
        pods.append({'index': 0, 'role': 'leader', 'program': 'vllm serve', 'argv': argv, 'params': {'node_rank': 0, 'headless': 0, 'api_server_count': 1},
                     'httpServer': True, 'metricsPorts': [p], 'healthOnlyPorts': [], 'engines': [0]})
    else:
        assert count == 0
        pods.append({'index': 1, 'role': 'worker', 'program': 'vllm serve', 'argv': argv, 'params': {'node_rank': 1, 'headless': 1, 'api_server_count': 0},
                     'httpServer': False, 'metricsPorts': [], 'healthOnlyPorts': [], 'engines': [],
                     'note': 'run_headless: node_rank_within_dp > 0 starts only a MultiprocExecutor (the workers of the leader\'s engine); no HTTP server'})
mode('mp', 'vLLM\'s multiprocessing executor across nodes: tensor parallel 2, `--nnodes 2 --node-rank R`, the worker `--headless`.',
     {'tensor': 2, 'pipeline': 1, 'pcp': 1, 'data': 1, 'data_local': 1, 'nnodes': 2, 'executor': 'mp', 'dp_backend': 'mp', 'gpus_per_node': 1,
      'hybrid_lb': 0, 'external_lb': 0, 'multi_port': 0, 'is_moe': 1},
     pods, fed,
     {'headless: api_server_count 0': src.ref(SERVE_PY, 'args.api_server_count = 0'),
      'headless worker of a multi-node engine: only a MultiprocExecutor': src.ref(SERVE_PY, 'if parallel_config.node_rank_within_dp > 0:'),
      'node_rank_within_dp = node_rank % nnodes_within_dp': src.ref(PARALLEL, 'return self.node_rank % self.nnodes_within_dp'),
      'data_parallel_size_local inferred for nnodes > 1': src.ref(ARG_UTILS, 'self.data_parallel_size_local = max(')})

# ---- dp-hybrid: 4 engines, 2 per pod, an API server per local engine on every pod --------------------------------
work4 = mn.workload(4)
DP, LOCAL = 4, 2
dp_flags = ['--data-parallel-size', str(DP), '--data-parallel-size-local', str(LOCAL), '--data-parallel-address', LEADER,
            '--data-parallel-rpc-port', str(RPC_PORT), '--enable-expert-parallel']
pods, fed = [], {}
for r in range(2):
    start = r * LOCAL
    argv = argv_of(dp_flags + ['--data-parallel-start-rank', str(start), '--data-parallel-hybrid-lb'])
    ns = parsed(argv)
    count, lb = api_server_count(ns)
    assert (count, lb) == (LOCAL, 'hybrid'), (count, lb)
    # arg_utils: data_parallel_rank = data_parallel_start_rank; core_client: local engines only -> [rank, rank + local)
    managed = list(range(ns.data_parallel_start_rank, ns.data_parallel_start_rank + ns.data_parallel_size_local))
    texts = multi_api_servers(config(DP, 1), [work4['ranks'][e] for e in managed], count)
    p, f = metrics_port(r, PORT, '--port', 0, texts, 'api', {'apiServers': count, 'multiprocess': True})
    assert p['labels']['engine'] == [str(e) for e in managed], (p['labels'], managed)
    fed.update(f)
    pods.append({'index': r, 'role': 'leader' if r == 0 else 'worker', 'program': 'vllm serve', 'argv': argv,
                 'params': {'node_rank': 0, 'start_rank': start, 'hybrid_lb': 1, 'api_server_count': count},
                 'httpServer': True, 'metricsPorts': [p], 'healthOnlyPorts': [], 'engines': managed})
mode('dp-hybrid', 'Data parallel 4 over two pods, 2 engines each, hybrid load balancing: every pod runs API servers for its own engines.',
     {'tensor': 1, 'pipeline': 1, 'pcp': 1, 'data': DP, 'data_local': LOCAL, 'nnodes': 1, 'executor': 'mp', 'dp_backend': 'mp', 'gpus_per_node': LOCAL,
      'external_lb': 0, 'multi_port': 0, 'headless': 0, 'is_moe': 1},
     pods, fed,
     {'--data-parallel-start-rank without an LB flag means hybrid': src.ref(SERVE_PY, 'is_hybrid_lb = args.data_parallel_start_rank is not None'),
      'hybrid: api_server_count = data_parallel_size_local': src.ref(SERVE_PY, 'args.api_server_count = args.data_parallel_size_local or 1'),
      'data_parallel_rank = data_parallel_start_rank': src.ref(ARG_UTILS, 'self.data_parallel_start_rank', after='self.data_parallel_rank = ('),
      'dp_rank of the client = data_parallel_index = data_parallel_rank': src.ref(PARALLEL, 'self.data_parallel_index = self.data_parallel_rank')})

# ---- dp-multi-port: the DP supervisor, one API server per local rank on port + local_rank -------------------------
sup_ns = {'copy': copy, 'argparse': argparse}
for fn in ('infer_multi_port_external_lb_start_rank', '_build_device_ids'):
    sup_ns[fn] = stubimport.definition_from_source(os.path.join(SITE, SUPERVISOR), fn, sup_ns)
validate = stubimport.definition_from_source(os.path.join(SITE, SUPERVISOR), 'validate_multi_port_external_lb_args', sup_ns)
build_child = stubimport.definition_from_source(os.path.join(SITE, SUPERVISOR), '_build_vllm_dp_server_args', sup_ns)
pods, fed = [], {}
for r in range(2):
    start = r * LOCAL
    argv = argv_of(dp_flags + ['--data-parallel-start-rank', str(start), '--data-parallel-multi-port-external-lb',
                               '--data-parallel-supervisor-port', str(SUPERVISOR_PORT)])
    ns = parsed(argv)
    count, lb = api_server_count(ns)
    assert lb == 'multi-port', lb
    validate(ns)
    ports = []
    engines = []
    for local in range(ns.data_parallel_size_local):
        child = build_child(ns, local)
        # The child is a single API server (api_server_count 1) in external-LB mode: local_engines_only with a local size of 1.
        assert child.api_server_count == 1 and child.data_parallel_external_lb and child.data_parallel_size_local == 1
        managed = [child.data_parallel_rank]
        texts = single_api_server(config(DP, 1), [work4['ranks'][e] for e in managed])
        p, f = metrics_port(r, child.port, '--port', child.port - ns.port, texts, 'api',
                            {'apiServers': 1, 'multiprocess': False, 'dataParallelRank': child.data_parallel_rank})
        assert p['labels']['engine'] == [str(child.data_parallel_rank)]
        fed.update(f)
        ports.append(p)
        engines += managed
    pods.append({'index': r, 'role': 'leader' if r == 0 else 'worker', 'program': 'vllm serve', 'argv': argv,
                 'params': {'node_rank': 0, 'start_rank': start, 'multi_port': 1, 'api_server_count': 1, 'port': PORT, 'supervisor_port': SUPERVISOR_PORT},
                 'httpServer': True, 'metricsPorts': ports, 'engines': engines,
                 'healthOnlyPorts': [{'port': SUPERVISOR_PORT, 'portFlag': '--data-parallel-supervisor-port', 'offset': 0, 'server': 'dp-supervisor',
                                      'paths': ['/health', '/ready', '/readyz'],
                                      'note': 'listens only once every child API server answers /health with 200; then 200 while they all do, 503 while shutting down'}]})
mode('dp-multi-port', 'Data parallel 4 over two pods, 2 engines each, multi-port external load balancing: per pod a supervisor '
     'starts one API server per local rank on --port + local rank.',
     {'tensor': 1, 'pipeline': 1, 'pcp': 1, 'data': DP, 'data_local': LOCAL, 'nnodes': 1, 'executor': 'mp', 'dp_backend': 'mp', 'gpus_per_node': LOCAL,
      'hybrid_lb': 0, 'external_lb': 0, 'headless': 0, 'is_moe': 1},
     pods, fed,
     {'multi-port checks': src.ref(SUPERVISOR, 'def validate_multi_port_external_lb_args'),
      'child port = port + local_rank, data_parallel_rank = start + local_rank, external LB, one API server': src.ref(SUPERVISOR, 'child_args.port = args.port + local_rank'),
      'supervisor routes /health, /ready, /readyz': src.ref(SUPERVISOR, '@app.get("/health", include_in_schema=False)'),
      'supervisor server starts after the children are ready': src.ref(SUPERVISOR, 'supervisor_server, supervisor_server_task = await self._start_server()'),
      'child: single API server in its process (no multiprocess dir)': src.ref(SUPERVISOR, 'uvloop.run(run_server(child_args))')},
     ['the notes (section 1.3) list /health and /readyz on the supervisor port; the code also serves /ready'])

# ---- the release's checks of these layouts ------------------------------------------------------------------------
RULES = [
    # id, when, require, file, a distinctive piece of the check's source
    ('one-lb-mode', '1 == 1', 'hybrid_lb + external_lb + multi_port <= 1', SERVE_PY, 'Cannot use more than one data parallel load balancing mode'),
    ('headless-no-api-servers', 'headless == 1', 'api_server_count == 0', SERVE_PY, 'if args.api_server_count is not None and args.api_server_count > 0:'),
    ('headless-no-hybrid', 'headless == 1', 'hybrid_lb == 0', SERVE_PY, 'data_parallel_hybrid_lb is not applicable in headless mode'),
    ('nnodes-needs-mp-dp-backend', 'nnodes > 1', "dp_backend == 'mp'", ARG_UTILS, '`--nnodes {self.nnodes}` requires'),
    ('nnodes-divides-world-size', 'nnodes > 1', '(data * pipeline * tensor * pcp) % nnodes == 0', ARG_UTILS, 'if world_size % self.nnodes != 0:'),
    ('node-rank-in-range', 'nnodes > 1', '0 <= node_rank and node_rank < nnodes', ARG_UTILS, 'if not 0 <= self.node_rank < self.nnodes:'),
    ('nnodes-needs-mp-executor', 'nnodes > 1', "executor == 'mp' or executor == 'uni' or executor == 'external_launcher'", PARALLEL, 'nnodes > 1 can only be set when distributed executor'),
    ('world-size-fits-node', "nnodes == 1 and executor == 'mp'", 'tensor * pipeline * pcp <= gpus_per_node', PARALLEL, 'current_platform.device_count() < self.world_size'),
    ('dp-node-groups-divide-nnodes', 'nnodes > 1 and external_lb == 0', 'nnodes % (data / data_local) == 0', PARALLEL, 'if self.nnodes % data_parallel_node_size != 0:'),
    ('external-lb-moe-only', 'data > 1 and (external_lb == 1 or multi_port == 1)', 'is_moe == 1', ARG_UTILS, 'Non-MoE models do not support external data parallel mode'),
    ('multi-port-dp-size', 'multi_port == 1', 'data >= 2', SUPERVISOR, 'if args.data_parallel_size < 2:'),
    ('multi-port-local-size', 'multi_port == 1', 'data_local >= 2 and data_local <= data', SUPERVISOR, 'if local_size is None or local_size < 2:'),
    ('multi-port-local-divides', 'multi_port == 1', 'data % data_local == 0', SUPERVISOR, 'if args.data_parallel_size % local_size != 0:'),
    ('multi-port-ranks-fit', 'multi_port == 1', 'start_rank + data_local <= data', SUPERVISOR, 'if start_rank + local_size > args.data_parallel_size:'),
    ('multi-port-api-server-count', 'multi_port == 1', 'api_server_count == 1', SUPERVISOR, 'if args.api_server_count not in (None, 1):'),
    ('multi-port-supervisor-port-free', 'multi_port == 1', 'supervisor_port < port or supervisor_port > port + data_local - 1', SUPERVISOR, 'if child_port_min <= supervisor_port <= child_port_max:'),
]


def rule_docs(rules):
    out = []
    for rule in rules:
        rid, when, require, rel, anchor = rule[:5]
        where, line = src.find(rel, anchor)
        out.append({'id': rid, 'when': when, 'require': require, 'source': where, 'code': line})
    return out


rules = rule_docs(RULES)
for layout in layouts.values():
    mn.check_rules(rules, layout, 'vllm serve')

out = os.path.join(args.out, 'multinode')
for name, layout in layouts.items():
    n = {'ray': 1, 'mp': 1}.get(name, 4)
    fed_stats = mn.workload(n)
    fed_stats['model_name'] = MODEL
    mn.write_mode(out, name, files[name], layout, fed_stats)
mn.write_json(os.path.join(out, 'rules.json'), {'engine': 'vllm', 'version': args.version, 'program': 'vllm serve', 'rules': rules,
                                                'note': 'each rule: the release refuses a pod whose parameters make `when` true and `require` false; '
                                                        'expressions over layout.json params (+ the pod\'s own params)'})
mn.write_json(os.path.join(out, 'provenance.json'), common.provenance(
    'vllm', args.version,
    'imported vllm.v1.metrics.loggers.PrometheusStatLogger in one forked process per API server of each pod (multiprocess mode '
    'where the pod runs more than one API server) and fed vllm.v1.metrics.stats objects for the pod\'s engines; the layout from '
    'the release\'s launch code (layout.json sources), the multi-port children built by dp_supervisor\'s own functions',
    REAL, stubimport.stubbed(),
    ['config: a namespace with the fields PrometheusStatLogger reads (vllm.config imports torch)',
     'prometheus_client\'s value class is re-selected in each forked API server after PROMETHEUS_MULTIPROC_DIR is set '
     '(vLLM sets it before spawning its API servers, setup_multiprocess_prometheus)',
     'dp_supervisor.validate_multi_port_external_lb_args, _build_vllm_dp_server_args, _build_device_ids and '
     'infer_multi_port_external_lb_start_rank executed from the release\'s source; the command lines read with the recorded catalog\'s defaults']))
print(f'vllm {args.version} multi-node: {", ".join(f"{k} ({len(v)} files)" for k, v in files.items())} in {out}')
