# One image for api and worker; the command picks the role (`kiln api` / `kiln worker`).
FROM node:20-bookworm-slim
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY apps ./apps
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && node node_modules/typescript/bin/tsc -b
ENV KILN_DATA_DIR=/data KILN_MODELS_DIR=/models
# glibc returns freed session memory to the OS only for large blocks (docs/memory.md).
ENV MALLOC_MMAP_THRESHOLD_=1048576
# V8 flags of the API process (apps/api/src/node-flags.ts).
ENTRYPOINT ["node", "--max-semi-space-size=64", "apps/cli/bin/kiln.js"]
