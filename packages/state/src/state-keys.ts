/**
 * Redis keys of Kiln's own state (BullMQ's are `<prefix>:render:*`). One place, so the API and
 * the worker agree, and everything lives under the queue prefix (several Kilns can share a Redis,
 * and the tests remove `<prefix>:*` when they end). On a Redis Cluster the prefix is a hash tag,
 * `{kiln}` (config's `queuePrefix`), so these keys and BullMQ's all hash to one slot and any script
 * or MULTI may touch them together: every key must start with `prefix` (test/redis-key-slots.test.ts).
 */
export function stateKeys(prefix: string) {
  const base = `${prefix}:kiln`;
  return {
    /** Marker that a job was asked to stop; checked by a worker before it starts a job. */
    cancel: (jobId: string) => `${base}:cancel:${jobId}`,
    /** Pub/sub channel on which the API tells workers to stop a running job. */
    cancelChannel: `${base}:cancel-requests`,
    /** An Idempotency-Key's record, by tenant and SHA-256 of the key. */
    idempotency: (tenant: string, keyDigest: string) => `${base}:idem:${tenant}:${keyDigest}`,
    /** The open job of a request retried without an Idempotency-Key, by tenant, key id and fingerprint. */
    retryDedupe: (tenant: string, keyId: string, fingerprint: string) =>
      `${base}:retry:${tenant}:${keyId}:${fingerprint}`,
    /** GCRA state (theoretical arrival time) of one API key's rate limit. */
    rateLimit: (keyId: string) => `${base}:rate:${keyId}`,
    /** Jobs an API key has submitted that have not ended yet (max_queued_jobs). */
    openJobs: (keyId: string) => `${base}:open:${keyId}`,
    /** A tenant's jobs, scored by creation time (GET /v1/jobs). */
    tenantJobs: (tenant: string) => `${base}:jobs:${tenant}`,
    /** A tenant's jobs of one batch, scored by creation time. */
    batchJobs: (tenant: string, batchId: string) => `${base}:jobs:${tenant}:batch:${batchId}`,
    /** Usage counters of one API key on one UTC day (`YYYY-MM-DD`). */
    usageDay: (tenant: string, keyId: string, day: string) => `${base}:usage:${tenant}:${keyId}:${day}`,
    /** The API keys of a tenant that have usage recorded. */
    usageKeys: (tenant: string) => `${base}:usage-keys:${tenant}`,
    /** Set once when a job's usage is recorded: the exactly-once guard. */
    usageRecorded: (jobId: string) => `${base}:usage-recorded:${jobId}`,
    /** Worker milliseconds of a job's earlier attempts, added to the record when it ends. */
    usageAttempts: (jobId: string) => `${base}:usage-attempts:${jobId}`,
    /** Fleet-wide counters and histograms for GET /metrics, by name. */
    metrics: (name: string) => `${base}:metrics:${name}`,
    /** Live workers' memory budgets and model profiles of one model family (worker-capacity.ts). */
    capacity: (family: string) => `${base}:capacity:${family}`,
    /** Live workers, scored by last heartbeat (ms): the index of GET /v1/workers (worker-registry.ts). */
    workers: `${base}:workers`,
    /** One worker's announcement, expiring when its heartbeats stop. */
    worker: (workerId: string) => `${base}:worker:${workerId}`,
    /** Backlog counters by family, lane and state (backlog.ts). */
    backlog: `${base}:backlog`,
    /** Each tracked job's family, lane, work units and state: what makes backlog moves idempotent. */
    backlogJobs: `${base}:backlog-jobs`,
    /** Measured throughput (work units per second) by family, model and execution provider. */
    throughput: `${base}:throughput`,
  };
}

export type StateKeys = ReturnType<typeof stateKeys>;
