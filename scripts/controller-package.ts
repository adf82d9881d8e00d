/**
 * The controller image's package.json: the package's peer dependencies that the controller needs at run
 * time (cdk8s, cdk8s-plus-28, constructs, @kubernetes/client-node, prom-client; devDependencies in the
 * repository, at the versions the tests run) become dependencies, so `npm prune --omit=dev` (the Dockerfile)
 * and `npm install --omit=dev` (tools/build-images.sh) keep them. `pg` serves `record-benchmark` only.
 * usage: node lib/scripts/controller-package.js <package.json>   (rewrites the file)
 */
import * as fs from 'fs';

const NOT_IN_IMAGE = new Set(['pg']);

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export function controllerPackage(p: PackageJson): PackageJson {
  const dependencies = { ...p.dependencies };
  const devDependencies = { ...p.devDependencies };
  for (const name of Object.keys(p.peerDependencies ?? {})) {
    if (NOT_IN_IMAGE.has(name)) continue;
    const version = devDependencies[name];
    if (!version) throw new Error(`peer dependency ${name} has no devDependencies version to pin in the image`);
    dependencies[name] = version;
    delete devDependencies[name];
  }
  return { ...p, dependencies, devDependencies };
}

if (require.main === module) {
  const file = process.argv[2];
  fs.writeFileSync(file, `${JSON.stringify(controllerPackage(JSON.parse(fs.readFileSync(file, 'utf8'))), null, 2)}\n`);
}
