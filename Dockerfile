# Controller image: `docker build -t inference-monitoring-controller:0.1.0 .`
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/lib ./lib
COPY --from=build /src/bin ./bin
COPY --from=build /src/package.json ./package.json
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "bin/inference-monitoring.js"]
CMD ["controller"]
