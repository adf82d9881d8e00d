// An unknown field does not compile: `gpus` is not a field of a model (`gpu.count` is).
import { App } from 'cdk8s';
import { StackChart, addStack } from 'cdk8s-inference-monitoring';

const chart = new StackChart(new App(), 'llm', { namespace: 'llm' });
addStack(chart, 'stack', {
  name: 'prod',
  namespace: 'llm',
  spec: {
    models: [{
      name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm',
      // expect-error TS2561: Object literal may only specify known properties, but 'gpus' does not exist in type 'ModelInput'. Did you mean to write 'gpu'?
      gpus: 1,
    }],
  },
});
