// A wrong engine name does not compile: the type lists the engines there are.
import { App } from 'cdk8s';
import { StackChart, addStack } from 'cdk8s-inference-monitoring';

const chart = new StackChart(new App(), 'llm', { namespace: 'llm' });
addStack(chart, 'stack', {
  name: 'prod',
  namespace: 'llm',
  spec: {
    models: [{
      name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct',
      // expect-error TS2322: Type '"llamacpp"' is not assignable to type '"vllm" | "lmdeploy" | "sglang" | "tgi" | "transformers"'.
      engine: 'llamacpp',
    }],
  },
});
