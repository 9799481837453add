/**
 * The V8 flags the API process is launched with: `npm start` and the Dockerfile's entry point
 * pass them, and the benchmarks launch their servers with them (test/launch-flags.test.ts keeps
 * the three in step). V8 reads them only at start-up, so they cannot be set from inside.
 *
 * Semi-spaces of 64 MiB instead of V8's 16: an async submission leaves only short-lived garbage
 * (the request, its parsed body, the job's JSON, the Redis commands), and a young generation four
 * times the size is scavenged a quarter as often at about the same cost per scavenge (what is
 * still alive: the requests in flight). The API spent 7% less CPU per submission with 32 MiB and
 * another 5% less with 64 (docs/benchmarks.md, item 4); the young generation may then take up to
 * 192 MiB instead of 48.
 */
export const API_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
