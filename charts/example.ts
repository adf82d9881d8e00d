import { InferenceMonitoringSpec } from '../src/api/schema';

/**
 * The default example: LMDeploy serving Qwen2.5-7B-Instruct with metrics and
 * two data-parallel ranks of tensor-parallel 2, as in LMDeploy's monitoring
 * guide, plus a vLLM model; monitored by the managed stack.
 */
export const EXAMPLE_NAME = 'demo';
export const EXAMPLE_NAMESPACE = 'llm';

export const EXAMPLE_SPEC: InferenceMonitoringSpec | Record<string, unknown> = {
  models: [
    {
      name: 'qwen-lmdeploy',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      engine: 'lmdeploy',
      gpu: { count: 2 }, // LMDeploy: max(tp, dp) GPUs, the ranks share the tensor-parallel group
      parallelism: { tensor: 2, data: 2 },
      modelCache: { type: 'persistentVolumeClaim', size: '100Gi' },
    },
    {
      name: 'llama-vllm',
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      engine: 'vllm',
      gpu: { count: 1 },
      hfTokenSecretRef: { name: 'hf-token', key: 'token' },
    },
  ],
};
