import { ApiObject, Chart, ChartProps, DependencyGraph } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { normalizeManifest } from './normalize';

/**
 * A Chart whose manifests are normalized (see `normalizeManifest`) and whose
 * resource names are exactly the names we set. Used by `cdk8s synth`, `render`
 * and the controller alike.
 */
export class StackChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, { disableResourceNameHashes: true, ...props });
  }

  public toJson(): any[] {
    return (synthesizeSelfContained(this) ?? super.toJson()).map(normalizeManifest);
  }
}

/**
 * `Chart.toJson()` resolves dependencies and validates the whole App for every
 * chart, so an App of N stacks costs O(N × all constructs). A chart with no
 * dependency leaving it and no nested chart gives the same output from its own
 * subtree: the same per-construct validation, construct dependencies turned
 * into ApiObject dependencies the same way, the same topological order.
 * Returns undefined when the chart is not self-contained (cdk8s' path applies).
 */
function synthesizeSelfContained(chart: Chart): unknown[] | undefined {
  const nodes = chart.node.findAll();
  const deps: Array<{ source: IConstruct; target: IConstruct }> = [];
  for (const node of nodes) {
    if (node !== chart && node instanceof Chart) return undefined;
    for (const target of node.node.dependencies) {
      if (Chart.of(target) !== chart) return undefined;
      deps.push({ source: node, target });
    }
  }
  const errors = nodes.flatMap((node) => node.node.validate().map((e) => `[${node.node.path}] ${e}`));
  if (errors.length > 0) throw new Error(`Validation failed with the following errors:\n  ${errors.join('\n  ')}`);
  const apiObjectsUnder = (c: IConstruct) => c.node.findAll().filter((x): x is ApiObject => x instanceof ApiObject);
  for (const { source, target } of deps) {
    const targets = apiObjectsUnder(target);
    for (const s of apiObjectsUnder(source)) for (const t of targets) if (s !== t) s.node.addDependency(t);
  }
  return new DependencyGraph(chart.node).topology()
    .filter((x): x is ApiObject => x instanceof ApiObject)
    .map((o) => o.toJson());
}
