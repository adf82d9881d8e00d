// A misspelt mode does not compile, in renderManifests as in addStack.
import { renderManifests } from 'cdk8s-inference-monitoring';

renderManifests({
  name: 'prod',
  namespace: 'llm',
  spec: {
    models: [{ name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' }],
    // expect-error TS2820: Type '"operater"' is not assignable to type '"operator" | "managed" | undefined'. Did you mean '"operator"'?
    monitoring: { mode: 'operater' },
  },
});
