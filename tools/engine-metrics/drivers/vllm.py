"""vLLM (V1 engine): vllm/v1/metrics/loggers.py PrometheusStatLogger for two data-parallel engines.

`vllm serve --data-parallel-size 2` runs, from 0.9 on, as many API servers as engines
(`--api-server-count` defaults to the DP size): each API server process has a
PrometheusStatLogger for engine indexes [0, 1] and prometheus_client runs in multiprocess
mode (vllm/v1/metrics/prometheus.py sets PROMETHEUS_MULTIPROC_DIR), so /metrics is the
MultiProcessCollector's merge of every API server's files (get_prometheus_registry()).
Here: two worker processes play the two API servers. API server 0 records both engines'
SchedulerStats (gauges are `mostrecent`), each API server records the IterationStats of the
requests it handled (counters and histograms are summed over processes).
The config is a plain namespace with the fields the logger reads (vllm.config needs torch).
"""
import dataclasses
import os
import shutil
import sys
import tempfile
import types

import stubimport
import common

args = common.arg_parser().parse_args()
REAL = ['vllm.envs', 'vllm.v1.engine', 'vllm.v1.metrics.loggers', 'vllm.v1.metrics.stats', 'vllm.v1.metrics.buckets',
        'vllm.v1.metrics.utils', 'vllm.v1.metrics.cache_hit_source', 'vllm.v1.metrics.prometheus', 'vllm.v1.spec_decode.metrics']
REAL = [m for m in REAL if os.path.exists(os.path.join(args.site, *m.split('.'))) or os.path.exists(os.path.join(args.site, *m.split('.')) + '.py')]
stubimport.install(REAL, ['vllm', 'torch', 'msgspec', 'transformers', 'triton'], args.site)

# How many API servers `vllm serve --data-parallel-size 2` starts, read from the release's own CLI:
# from the release where --api-server-count defaults to the local DP size, two; before, one.
with open(os.path.join(args.site, 'vllm', 'entrypoints', 'cli', 'serve.py')) as f:
    API_SERVERS = 2 if 'args.api_server_count = args.data_parallel_size_local' in f.read() else 1
multiproc = None
if API_SERVERS > 1:
    # As vllm/v1/metrics/prometheus.py setup_multiprocess_prometheus() does.
    multiproc = tempfile.mkdtemp(prefix='vllm-prom-')
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = multiproc

import prometheus_client  # noqa: E402
from prometheus_client import multiprocess  # noqa: E402
from vllm.v1.engine import FinishReason  # noqa: E402
from vllm.v1.metrics import loggers, stats  # noqa: E402

MODEL = 'meta-llama/Llama-3.1-8B-Instruct'


class NS(types.SimpleNamespace):
    """A config section: unset fields read as None (no LoRA, no KV transfer, no speculative decoding)."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return None


config = NS(
    model_config=NS(served_model_name=MODEL, max_model_len=8192, is_diffusion=False),
    cache_config=NS(num_gpu_blocks=4096, block_size=16),
    observability_config=NS(show_hidden_metrics=False, kv_cache_metrics=False, cudagraph_metrics=False, enable_mfu_metrics=False,
                            custom_histogram_buckets=None, show_hidden_metrics_for_version=None),
    device_config=NS(device_type='cuda'),
    parallel_config=NS(data_parallel_size=2, tensor_parallel_size=1),
    compilation_config=NS(),
)
work = common.workload()
ENGINES = [r['rank'] for r in work['ranks']]
REASON = {'stop': FinishReason.STOP, 'error': getattr(FinishReason, 'ERROR', FinishReason.ABORT)}


def fields(cls, **values):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def scheduler_stats(g):
    s = fields(stats.SchedulerStats, num_running_reqs=g['running'], num_waiting_reqs=g['waiting'], kv_cache_usage=g['kv_cache_usage'],
               gpu_cache_usage=g['kv_cache_usage'])
    pcs = getattr(s, 'prefix_cache_stats', None)
    if pcs is not None:
        # Token queries and hits since the last step, as the KV-cache manager reports them.
        pcs.queries, pcs.hits = 1000, int(1000 * g['prefix_cache_hit_rate'])
    return s


def iteration(requests):
    """The IterationStats of the requests' steps: one per token; the last step finishes the request."""
    out = []
    for r in requests:
        first = stats.IterationStats()
        first.num_generation_tokens = 1
        if hasattr(first, 'prompt_token_stats'):
            first.prompt_token_stats.computed = r['prompt_tokens']
            first.prompt_token_stats.total = r['prompt_tokens']
        else:
            first.num_prompt_tokens = r['prompt_tokens']
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


def api_server(index, phase):
    """One API server process: a PrometheusStatLogger over both engines, as vLLM builds it."""
    if API_SERVERS == 1:
        global single
        if single is None:
            single = loggers.PrometheusStatLogger(config, engine_indexes=ENGINES)
        for rank in work['ranks']:
            for it in iteration(rank[phase]['requests']):
                single.record(scheduler_stats=None, iteration_stats=it, engine_idx=rank['rank'])
            single.record(scheduler_stats=scheduler_stats(rank[phase]), iteration_stats=None, engine_idx=rank['rank'])
        return
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit(f'API server {index} failed')
        return
    try:
        logger = loggers.PrometheusStatLogger(config, engine_indexes=ENGINES)
        for rank in work['ranks']:
            e = rank['rank']
            # Requests are spread over the API servers; each server handles those of its own index here.
            mine = [r for i, r in enumerate(rank[phase]['requests']) if i % 2 == index]
            for it in iteration(mine):
                logger.record(scheduler_stats=None, iteration_stats=it, engine_idx=e)
            if index == 0:
                logger.record(scheduler_stats=scheduler_stats(rank[phase]), iteration_stats=None, engine_idx=e)
        os._exit(0)
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)


single = None


def scrape():
    if API_SERVERS == 1:
        return common.exposition()
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return prometheus_client.generate_latest(registry).decode('utf-8')


files = {}
for phase in ('before', 'after'):
    for index in range(API_SERVERS):
        api_server(index, phase)
    files['vllm.before.prom' if phase == 'before' else 'vllm.prom'] = scrape()
if multiproc:
    shutil.rmtree(multiproc, ignore_errors=True)

work['model_name'] = MODEL
work['layout'] = {'dp': 2, 'tp': 1, 'api_servers': API_SERVERS, 'multiprocess': API_SERVERS > 1,
                  'note': f'one /metrics ({"multiprocess mode, merged over %d API servers" % API_SERVERS if API_SERVERS > 1 else "one API server"}), engines told apart by label engine="<index>"'}
common.write_outputs(args.out, files, work, common.provenance(
    'vllm', args.version, f'imported vllm.v1.metrics.loggers.PrometheusStatLogger in {API_SERVERS} API-server process(es){" (prometheus_client multiprocess mode, as with --data-parallel-size 2 by default)" if API_SERVERS > 1 else ""} and fed vllm.v1.metrics.stats objects for 2 data-parallel engines',
    REAL, stubimport.stubbed(), ['config: a namespace with the fields PrometheusStatLogger reads (vllm.config imports torch)']))
print(f'vllm {args.version}: {len(files)} expositions in {args.out}; stubbed: {", ".join(stubimport.stubbed())}')
