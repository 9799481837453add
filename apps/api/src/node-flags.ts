/**
 * The V8 flags the API process is launched with: `npm start` and the Dockerfile's entry point
 * pass them, and the benchmarks launch their servers with them (test/launch-flags.test.ts keeps
 * the three in step). V8 reads them only at start-up, so they cannot be set from inside.
 *
 * Semi-spaces of 32 MiB instead of V8's 16: an async submission leaves only short-lived garbage
 * (the request, its parsed body, the job's JSON, the Redis commands), and a young generation
 * twice the size is scavenged half as often at the same cost per scavenge. The API spent 7% less
 * CPU per submission with it (docs/benchmarks.md, item 4), for at most 48 MiB more memory.
 */
export const API_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
