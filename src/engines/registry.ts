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

/** Engines that cannot serve one model copy across pods, with the reason the CRD's CEL rule gives. */
export const NO_MULTI_NODE_REASONS: Record<string, string> = Object.fromEntries(
  ENGINE_NAMES.filter((e) => !PROFILES[e].multiNode).map((e) => [e, PROFILES[e].noMultiNode ?? `${PROFILES[e].displayName} has no multi-node launch`]));

/** Engines without pipeline parallelism, with the reason the CRD's CEL rule gives. */
export const NO_PIPELINE_PARALLEL_REASONS: Record<string, string> = Object.fromEntries(
  ENGINE_NAMES.filter((e) => PROFILES[e].noPipelineParallel).map((e) => [e, PROFILES[e].noPipelineParallel!]));

/** Per engine, the multi-node modes it runs (for the CRD's CEL rule on `parallelism.multiNodeMode`). */
export const MULTI_NODE_MODES: Record<string, string[]> = Object.fromEntries(
  ENGINE_NAMES.filter((e) => PROFILES[e].multiNode).map((e) => [e, Object.keys(PROFILES[e].multiNode!.modes).sort()]));
