"""LMDeploy data parallelism across the pods of one LeaderWorkerSet group: which pod serves which /metrics.

`lmdeploy serve api_server <model> --backend pytorch --dp 4 --ep 4 --nnodes 2 --node-rank R --server-port 23333
--proxy-url ...` runs cli/serve.py -> serve/openai/launch_server.py launch_server(): one api_server process per local
DP rank (dp_per_node = dp // nnodes), dp_rank = node_rank * dp_per_node + idx, on server_port + idx (random ports
when --proxy-url is given without --server-port). Each api_server process has its own prometheus_client registry
and PrometheusStatLogger(dp_rank=backend_config.dp_rank) (serve/core/async_engine.py _build_stat_loggers): label
engine="<dp_rank>".

Here launch_server itself runs, executed from the release's source with a recording stand-in for multiprocessing
(no process is started; each would-be server's kwargs are captured), and each captured server becomes one forked
process with the release's PrometheusStatLogger for its dp_rank, fed LMDeploy's own stats objects as in
drivers/lmdeploy.py.
"""
import copy
import dataclasses
import os
import random
import socket
import types

import stubimport
import common
import multinode_common as mn

args = mn.arg_parser().parse_args()
SITE = args.site
REAL = ['lmdeploy.metrics.loggers', 'lmdeploy.metrics.stats', 'lmdeploy.messages']
stubimport.install(REAL, ['lmdeploy', 'torch', 'pydantic', 'transformers'], SITE)

import prometheus_client  # noqa: E402
from lmdeploy.messages import PytorchEngineConfig, ResponseType  # noqa: E402
from lmdeploy.metrics import loggers, stats  # noqa: E402

MODEL = 'deepseek-ai/DeepSeek-V2-Lite'
SESSION_LEN = 32768
PORT, NNODES, DP, EP = 23333, 2, 4, 4
LEADER = '$(LWS_LEADER_ADDRESS)'
PROXY = f'http://{LEADER}:8000'
LAUNCH = 'lmdeploy/serve/openai/launch_server.py'
src = mn.Source(SITE)
cat = mn.Catalog(args.cli_catalog, 'api_server')
REASON = {'stop': ResponseType.FINISH, 'error': ResponseType.INTERNAL_ENGINE_ERROR}


class Recorder:
    """multiprocessing as launch_server uses it: Process objects that record their target's kwargs and exit 0."""

    def __init__(self):
        self.started = []
        outer = self

        class Process:
            def __init__(self, target=None, args=(), kwargs=None):
                self.target, self.args, self.kwargs = target, args, kwargs or {}
                self.pid, self.exitcode = 100000 + len(outer.started), None

            def start(self):
                outer.started.append(self)

            def join(self, timeout=None):
                self.exitcode = 0

            def is_alive(self):
                return False
        self.Process = Process

    def set_start_method(self, *a, **k):
        pass


def launched_servers(node_rank, argv):
    """launch_server() of the release, run with the command line's values; returns the kwargs of each server process."""
    ns = cat.parse(argv)
    rec = Recorder()
    env = {'copy': copy, 'random': random, 'socket': socket, 'mp': rec, 'logger': types.SimpleNamespace(setLevel=lambda *a: None, info=lambda *a: None,
                                                                                                     warning=lambda *a: None, error=lambda *a: None),
           'signal': types.SimpleNamespace(signal=lambda *a: None, SIGINT=2, SIGTERM=15, SIGQUIT=3),
           'get_host_ip': lambda: f'10.0.0.{10 + node_rank}', 'is_port_available': lambda port: True,
           'PytorchEngineConfig': PytorchEngineConfig, 'TurbomindEngineConfig': PytorchEngineConfig,
           '_run_server': 'lmdeploy.serve.openai.launch_server._run_server', 'cleanup_processes': None, 'terminate_processes': None}
    for fn in ('find_available_ports', '_validate_server_port_range'):
        env[fn] = stubimport.definition_from_source(os.path.join(SITE, LAUNCH), fn, env)
    launch_server = stubimport.definition_from_source(os.path.join(SITE, LAUNCH), 'launch_server', env)
    backend_config = PytorchEngineConfig(tp=ns.tp, dp=ns.dp, ep=ns.ep, session_len=SESSION_LEN)
    launch_server(ns.nnodes, ns.node_rank, ns._positional[0], backend_config=backend_config, proxy_url=ns.proxy_url,
                  server_port=ns.server_port, model_name=MODEL)
    return [p.kwargs for p in rec.started], ns


def schedule(logger, g, finished, total):
    fields = {f.name for f in dataclasses.fields(stats.SchedulerStats)}
    values = {'num_running_reqs': g['running'], 'num_waiting_reqs': g['waiting'], 'gpu_cache_usage': g['kv_cache_usage'],
              'prefix_cache_hit_rate': g['prefix_cache_hit_rate'], 'num_total_reqs': total + g['running'] + g['waiting'],
              'num_finished_reqs': finished, 'num_succeeded_reqs': finished, 'num_api_routed_reqs': g['running'] + g['waiting']}
    logger.record_schedule(stats.SchedulerStats(**{k: v for k, v in values.items() if k in fields}))


def request(logger, r):
    it = stats.IterationStats()
    it.prompt_tokens, it.new_generation_tokens, it.ttft = r['prompt_tokens'], 1, r['ttft']
    logger.record_iteration(it)
    for _ in range(r['generation_tokens'] - 1):
        it = stats.IterationStats()
        it.new_generation_tokens, it.itl, it.tpot = 1, r['itl'], r['itl']
        logger.record_iteration(it)
    prefill = r['ttft'] - r['queue_time'] if r['ttft'] > r['queue_time'] else 0.0
    # As drivers/lmdeploy.py feeds 0.11+: a RequestStats with the request's timestamps.
    t0 = 1000.0
    s = stats.RequestStats(arrival_time=t0, prompt_tokens=r['prompt_tokens'])
    s.generation_tokens = r['generation_tokens']
    s.queued_time = t0
    s.scheduled_time = t0 + r['queue_time']
    s.first_token_time = s.scheduled_time + prefill
    s.finish_time = t0 + r['e2e']
    s.lastest_token_time = s.finish_time
    s.finish_reason = REASON[r['finish_reason']]
    logger.record_finish(s)


def api_server(dp_rank, rank):
    """One api_server process (its own default REGISTRY), alive for the interval."""
    state = {'done': 0}

    def step(phase):
        if 'logger' not in state:
            state['logger'] = loggers.PrometheusStatLogger(model_name=MODEL, max_model_len=SESSION_LEN, dp_rank=dp_rank)
        for r in rank[phase]['requests']:
            request(state['logger'], r)
        state['done'] += len(rank[phase]['requests'])
        schedule(state['logger'], rank[phase], state['done'], state['done'])
        return prometheus_client.generate_latest(prometheus_client.REGISTRY).decode('utf-8')
    return step


work = mn.workload(DP)
pods, fed = [], {}
params = {'dp': DP, 'ep': EP, 'tp': 1, 'nnodes': NNODES, 'backend': 'pytorch', 'server_port': PORT, 'proxy': 1, 'executor': 'ray'}
for node in range(NNODES):
    argv = ['lmdeploy', 'serve', 'api_server', MODEL, '--backend', 'pytorch', '--dp', str(DP), '--ep', str(EP), '--nnodes', str(NNODES),
            '--node-rank', str(node), '--server-name', '0.0.0.0', '--server-port', str(PORT), '--proxy-url', PROXY]
    servers, ns = launched_servers(node, argv[3:])
    ports = []
    for s in servers:
        dp_rank, port = s['backend_config'].dp_rank, s['server_port']
        run = mn.processes([api_server(dp_rank, work['ranks'][dp_rank])], ('before', 'after'))
        base = f'pod{node}-port{port}'
        fed[base + '.prom'], fed[base + '.before.prom'] = run['after']['results'][0], run['before']['results'][0]
        labels = mn.label_values(run['after']['results'][0], ['engine'], 'lmdeploy:')
        assert labels['engine'] == [str(dp_rank)], (labels, dp_rank)
        # Without --server-port the base is 23333, or random ports when --proxy-url is given (launch_server.py).
        ports.append({'port': port, 'portFlag': '--server-port', 'offset': port - ns.server_port, 'portDefault': 23333, 'randomWith': '--proxy-url',
                      'server': 'api', 'file': base + '.prom',
                      'before': base + '.before.prom', 'labels': labels, 'dataParallelRank': dp_rank, 'registersWith': s['proxy_url']})
    pods.append({'index': node, 'role': 'leader' if node == 0 else 'worker', 'program': 'lmdeploy serve api_server', 'argv': argv,
                 'env': {'LMDEPLOY_DP_MASTER_ADDR': LEADER, 'LMDEPLOY_DP_MASTER_PORT': '29555'},
                 'params': {'node_rank': node, 'dp_master_env': 1}, 'httpServer': True, 'metricsPorts': ports, 'healthOnlyPorts': [],
                 'engines': [p['dataParallelRank'] for p in ports]})

sources = {
    'launch_server for dp > 1 (pytorch backend); one api_server otherwise': src.ref('lmdeploy/cli/serve.py', "if args.dp == 1 or backend == 'turbomind':"),
    'dp_per_node = dp // num_nodes': src.ref(LAUNCH, 'dp_per_node = dp // num_nodes'),
    'random ports with --proxy-url and no --server-port': src.ref(LAUNCH, 'if proxy_url is not None and server_port is None:'),
    'ports server_port + i otherwise (23333 by default)': src.ref(LAUNCH, 'server_port_li = [base_port + i for i in range(dp_per_node)]'),
    'dp_rank = node_rank * dp_per_node + idx': src.ref(LAUNCH, 'dp_rank = node_rank * dp_per_node + idx'),
    'one PrometheusStatLogger per api_server, dp_rank from its backend_config': src.ref('lmdeploy/serve/core/async_engine.py', 'PrometheusStatLogger(model_name=self.model_name'),
    'engine label = str(dp_rank)': src.ref('lmdeploy/metrics/loggers.py', 'labelvalues = [model_name, str(dp_rank)]'),
}
layout = {'engine': 'lmdeploy', 'version': args.version, 'mode': 'dp', 'groupSize': NNODES, 'params': params, 'pods': pods, 'sources': sources,
          'description': 'Data parallel 4 (expert parallel 4) over two pods: one api_server per local DP rank on --server-port + i.',
          'notes': ['the proxy (`lmdeploy serve proxy`, the --proxy-url target) is a process of its own and serves no /metrics',
                    'dp % nnodes is not checked: dp_per_node = dp // nnodes, so with dp 5 over 2 nodes rank 4 is never started']}

RULES = [
    ('dp-above-one', "backend == 'pytorch'", 'dp > 1', LAUNCH, "assert dp > 1, f'only support dp > 1"),
    ('tp-or-ep-above-one', "backend == 'pytorch' and dp > 1", 'tp > 1 or ep > 1', LAUNCH, "assert tp > 1 or ep > 1"),
    ('ports-fit', 'server_port > 0', 'server_port + dp / nnodes - 1 <= 65535', LAUNCH, "if end_port > 65535:"),
    ('dp-needs-ray-executor', 'dp > 1', "executor == 'ray'", 'lmdeploy/pytorch/engine/executor/__init__.py', "'dp>1 requires distributed_executor_backend=\"ray\", '"),
    ('dp-needs-master-env', 'dp > 1', 'dp_master_env == 1', 'lmdeploy/pytorch/engine/executor/ray_executor.py', 'DP > 1 requires "LMDEPLOY_DP_MASTER_ADDR" and "LMDEPLOY_DP_MASTER_PORT".'),
]
rules = []
for rid, when, require, rel, anchor in RULES:
    where, line = src.find(rel, anchor)
    rules.append({'id': rid, 'when': when, 'require': require, 'source': where, 'code': line})
rules[3]['note'] = 'dp > 1 runs the Ray executor (the default chosen for dp > 1; another --distributed-executor-backend is refused)'
rules[4]['note'] = 'the environment, not the command line: LMDEPLOY_DP_MASTER_ADDR and LMDEPLOY_DP_MASTER_PORT must be set'
mn.check_rules(rules, layout, 'lmdeploy serve api_server')

out = os.path.join(args.out, 'multinode')
work['model_name'] = MODEL
mn.write_mode(out, 'dp', fed, layout, work)
mn.write_json(os.path.join(out, 'rules.json'), {'engine': 'lmdeploy', 'version': args.version, 'program': 'lmdeploy serve api_server', 'rules': rules,
                                                'note': 'each rule: the release refuses a pod whose parameters make `when` true and `require` false'})
mn.write_json(os.path.join(out, 'provenance.json'), common.provenance(
    'lmdeploy', args.version,
    'ran launch_server() from the release\'s source (multiprocessing replaced by a recorder: no server started) and, for each server it '
    'would start, imported lmdeploy.metrics.loggers.PrometheusStatLogger in a forked process with that server\'s dp_rank, fed '
    'lmdeploy.metrics.stats objects',
    REAL, stubimport.stubbed(), ['launch_server, find_available_ports and _validate_server_port_range executed from the release\'s source; '
                                 'get_host_ip and is_port_available answered by the driver (10.0.0.<10 + node>, every port free)']))
print(f'lmdeploy {args.version} multi-node: dp ({len(fed)} files) in {out}')
