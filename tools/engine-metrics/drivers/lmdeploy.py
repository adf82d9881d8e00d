"""LMDeploy: lmdeploy/metrics/loggers.py PrometheusStatLogger, one per data-parallel rank.

With `--dp N` LMDeploy runs one api_server process per rank, each with its own
prometheus_client registry and /metrics; so each rank is recorded in its own registry
(`lmdeploy-rank<N>.prom`). The stats objects are LMDeploy's own (lmdeploy/metrics/stats.py).
"""
import dataclasses
import sys

import stubimport
import common

args = common.arg_parser().parse_args()
REAL = ['lmdeploy.metrics.loggers', 'lmdeploy.metrics.stats', 'lmdeploy.messages']
stubimport.install(REAL, ['lmdeploy', 'torch', 'pydantic', 'transformers'], args.site)

import prometheus_client  # noqa: E402
from lmdeploy.messages import ResponseType  # noqa: E402
from lmdeploy.metrics import loggers, stats  # noqa: E402

MODEL = 'internlm/internlm2_5-7b-chat'
MAX_MODEL_LEN = 32768
work = common.workload()
files = {}
REASON = {'stop': ResponseType.FINISH, 'error': ResponseType.INTERNAL_ENGINE_ERROR}


def schedule(logger, g, finished, total):
    fields = {f.name for f in dataclasses.fields(stats.SchedulerStats)}
    values = {'num_running_reqs': g['running'], 'num_waiting_reqs': g['waiting'], 'gpu_cache_usage': g['kv_cache_usage'],
              'prefix_cache_hit_rate': g['prefix_cache_hit_rate'], 'num_total_reqs': total + g['running'] + g['waiting'],
              'num_finished_reqs': finished, 'num_succeeded_reqs': finished, 'num_api_routed_reqs': g['running'] + g['waiting']}
    s = stats.SchedulerStats(**{k: v for k, v in values.items() if k in fields})
    if hasattr(logger, 'record_schedule'):
        logger.record_schedule(s)
    else:
        logger.record(s, None)


def request_v1(logger, r, g):
    """Before 0.10 the logger takes vLLM-style record(scheduler_stats, iteration_stats) calls."""
    sched = stats.SchedulerStats()
    first = stats.IterationStats()
    first.num_prompt_tokens, first.num_generation_tokens = r['prompt_tokens'], 1
    first.time_to_first_tokens_iter.append(r['ttft'])
    logger.record(sched, first)
    for i in range(r['generation_tokens'] - 1):
        it = stats.IterationStats()
        it.num_generation_tokens = 1
        it.time_per_output_tokens_iter.append(r['itl'])
        if i == r['generation_tokens'] - 2:
            prefill = max(r['ttft'] - r['queue_time'], 0.0)
            decode = r['e2e'] - r['ttft']
            it.finished_requests.append(stats.FinishedRequestStats(
                finish_reason=REASON[r['finish_reason']], e2e_latency=r['e2e'], num_prompt_tokens=r['prompt_tokens'],
                num_generation_tokens=r['generation_tokens'], queued_time=r['queue_time'], prefill_time=prefill,
                inference_time=prefill + decode, decode_time=decode))
        logger.record(sched, it)


def request(logger, r, t0):
    if not hasattr(logger, 'record_iteration'):
        return request_v1(logger, r, None)
    # First iteration: the prompt and the first token; then one token per iteration.
    it = stats.IterationStats()
    it.prompt_tokens, it.new_generation_tokens, it.ttft = r['prompt_tokens'], 1, r['ttft']
    logger.record_iteration(it)
    for _ in range(r['generation_tokens'] - 1):
        it = stats.IterationStats()
        it.new_generation_tokens, it.itl, it.tpot = 1, r['itl'], r['itl']
        logger.record_iteration(it)
    reason = REASON[r['finish_reason']]
    prefill = r['ttft'] - r['queue_time'] if r['ttft'] > r['queue_time'] else 0.0
    decode = r['e2e'] - r['ttft']
    if hasattr(stats, 'FinishedRequestStats'):
        logger.record_finish(stats.FinishedRequestStats(
            finish_reason=reason, e2e_latency=r['e2e'], prompt_tokens=r['prompt_tokens'], generation_tokens=r['generation_tokens'],
            queued_time=r['queue_time'], prefill_time=prefill, inference_time=prefill + decode, decode_time=decode))
    else:
        s = stats.RequestStats(arrival_time=t0, prompt_tokens=r['prompt_tokens'])
        s.generation_tokens = r['generation_tokens']
        s.queued_time = t0
        s.scheduled_time = t0 + r['queue_time']
        s.first_token_time = s.scheduled_time + prefill
        s.finish_time = t0 + r['e2e']
        s.lastest_token_time = s.finish_time
        s.finish_reason = reason
        logger.record_finish(s)


for rank in work['ranks']:
    logger = loggers.PrometheusStatLogger(MODEL, MAX_MODEL_LEN, dp_rank=rank['rank'])
    done = 0
    for phase in ('before', 'after'):
        for r in rank[phase]['requests']:
            request(logger, r, 1000.0)
        done += len(rank[phase]['requests'])
        schedule(logger, rank[phase], done, done)
        text = common.exposition()
        files[f"lmdeploy-rank{rank['rank']}{'.before' if phase == 'before' else ''}.prom"] = text

work['model_name'] = MODEL
work['layout'] = {'dp': 2, 'tp': 1, 'note': 'one api_server process (own registry, own /metrics) per data-parallel rank, label engine="<rank>"'}
common.write_outputs(args.out, files, work, common.provenance(
    'lmdeploy', args.version, 'imported lmdeploy.metrics.loggers.PrometheusStatLogger and fed lmdeploy.metrics.stats objects',
    REAL, stubimport.stubbed()))
print(f'lmdeploy {args.version}: {len(files)} expositions in {args.out}; stubbed: {", ".join(stubimport.stubbed())}')
