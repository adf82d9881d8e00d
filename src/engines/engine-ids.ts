/** Engine names, in the order the CRD lists them. Kept apart from the profiles so the spec can import them cheaply. */
export const ENGINE_NAMES = ['vllm', 'lmdeploy', 'sglang', 'tgi', 'transformers'] as const;
