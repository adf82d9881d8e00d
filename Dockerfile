# Controller image: `docker build -t inference-monitoring-controller:0.1.0 .` (the build context is what
# .dockerignore lets through: the sources and the lock file, not node_modules or lib/)
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
# cdk8s, cdk8s-plus-28, constructs and the controller's own dependencies are peer dependencies of the package
# (devDependencies here, at the versions the tests run; a library user's install leaves the optional ones
# out). The image needs them: they become dependencies before the prune (pg serves record-benchmark only).
RUN npm run build \
 && node lib/scripts/controller-package.js package.json \
 && npm prune --omit=dev

FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/lib ./lib
COPY --from=build /src/bin ./bin
COPY --from=build /src/package.json ./package.json
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "bin/inference-monitoring.js"]
CMD ["controller"]
