import { Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
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
    return super.toJson().map(normalizeManifest);
  }
}
