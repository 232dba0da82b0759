# Production image: one image for every role, chosen per container (all | api | worker | smtp | migrate).
#   docker build -t postern:local .
#   docker run --rm postern:local --help     # the CLI: postern user create …, postern queue status, …
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json api.php.ts ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
COPY commands ./commands
COPY migrations ./migrations
COPY console ./console
# The build also writes dist/openapi.json (served at /openapi.json and /docs).
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schemas ./schemas
RUN mkdir -p /data && chown node:node /data && ln -s /app/dist/src/main.js /usr/local/bin/postern && chmod +x /app/dist/src/main.js
USER node
# api: PORT (8080). worker and smtp: /healthz, /readyz, /metrics on OPS_PORT (9464). smtp: 2525, 587, 465, 2526.
EXPOSE 8080 9464 2525
# Asks /readyz on the port the container's role serves (src/ops/healthcheck.ts); a migrate container is healthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s CMD ["node", "dist/src/ops/healthcheck.js"]
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["all"]
