// The generated types name every part of a spec, so a team can build specs in pieces and keep them typed;
// defaults are optional in the input type.
import { App } from 'cdk8s';
import { InferenceMonitoringSpecInput, ModelInput, MonitoringInput, StackChart, addStack } from 'cdk8s-inference-monitoring';

const llama: ModelInput = { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' };
const monitoring: MonitoringInput = { mode: 'operator', release: 'kube-prometheus-stack' };
const spec: InferenceMonitoringSpecInput = { models: [llama, { ...llama, name: 'llama-b', replicas: 2 }], monitoring };
addStack(new StackChart(new App(), 'llm', { namespace: 'llm' }), 'stack', { name: 'prod', namespace: 'llm', spec });
