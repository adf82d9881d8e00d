/**
 * What the CLI knows about its own package: its version (`--version`) and the optional peer
 * dependencies a command needs. A library user's install leaves out `@kubernetes/client-node`,
 * `prom-client` and `pg` (package.json `peerDependenciesMeta`: optional); the commands that load them
 * (`controller`, `record-benchmark`) check first and say what to install.
 */
import * as fs from 'fs';
import * as path from 'path';

const PACKAGE_NAME = 'cdk8s-inference-monitoring';

interface PackageJson {
  name: string;
  version: string;
  peerDependencies?: Record<string, string>;
}

let cached: PackageJson | undefined;

/**
 * This package's package.json: the nearest one named cdk8s-inference-monitoring above this module
 * (src/cli in the repository, lib/src/cli when built or installed, also from the CLI bundle, which
 * runs with this directory as its __dirname).
 */
export function packageJson(from = __dirname): PackageJson {
  if (cached && from === __dirname) return cached;
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as PackageJson;
      if (pkg.name === PACKAGE_NAME) {
        if (from === __dirname) cached = pkg;
        return pkg;
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

/** Whether `name` resolves from here, as the modules that load it resolve it. */
function resolvable(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch (e) {
    // Present but not loadable through require.resolve (an exports map): its own require reports that.
    return (e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND';
  }
}

/**
 * Throws, naming what to install, when an optional peer dependency a command needs is not installed.
 * @param names packages from package.json `peerDependencies`
 * @param command the command that needs them (for the message)
 */
export function requireOptionalPeers(names: readonly string[], command: string): void {
  const missing = names.filter((n) => !resolvable(n));
  if (missing.length === 0) return;
  const peers = packageJson().peerDependencies ?? {};
  const specs = missing.map((n) => (peers[n] ? `${n}@'${peers[n]}'` : n));
  throw new Error(`the ${command} command needs ${missing.join(' and ')}, which installing ${PACKAGE_NAME} as a library leaves out (optional peer dependencies): npm install ${specs.join(' ')}`);
}
