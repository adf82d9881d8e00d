import { ENGINE_NAMES } from './engine-ids';
import { EngineName, EngineProfile } from './profile';
import { vllm } from './vllm';
import { lmdeploy } from './lmdeploy';
import { sglang } from './sglang';
import { tgi } from './tgi';
import { transformers } from './transformers';

export const PROFILES: Readonly<Record<EngineName, EngineProfile>> = { vllm, lmdeploy, sglang, tgi, transformers };

export function profileFor(engine: EngineName): EngineProfile {
  return PROFILES[engine];
}

/** Engines whose data-parallel ranks share the tensor-parallel GPUs; the CRD's CEL rule is generated from this list. */
export const SHARED_TP_ENGINE_NAMES: string[] = ENGINE_NAMES.filter((e) => PROFILES[e].gpuLayout === 'max');

/** Engines that cannot run without a GPU; the CRD's CEL rule is generated from this list. */
export const GPU_ENGINE_NAMES: string[] = ENGINE_NAMES.filter((e) => PROFILES[e].requiresGpu);

/** Engines without data parallelism, with the reason the CRD's CEL rule gives. */
export const NO_DATA_PARALLEL_REASONS: Record<string, string> = Object.fromEntries(
  ENGINE_NAMES.filter((e) => PROFILES[e].noDataParallel).map((e) => [e, PROFILES[e].noDataParallel!]));
