/**
 * Worker processes for fault injection: `kiln worker` as operators run it (the built CLI), killed
 * with SIGKILL as the OOM killer or a lost machine would, and a fleet that replaces its dead the
 * way a process supervisor does. Victims come from a seeded generator, so a failing run can be
 * replayed with its seed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { collectLines, exited, pollUntil } from './harness.js';

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

export interface WorkerProcess {
  /** Every line the process wrote so far (its JSON log). */
  logs: string[];
  alive(): boolean;
  /** Whether it logged `worker ready` (it consumes jobs from then on). */
  ready(): boolean;
  /** Whether it logged more attempts started than ended: it holds a job right now. */
  busy(): boolean;
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGKILL: no shutdown, no lock released, nothing flushed. */
  kill(): Promise<void>;
  /** SIGTERM (finish the current job), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `kiln worker` with `env` on top of this process's environment (log level info: its ready line is read). */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [KILN_BIN, 'worker'], {
    env: { ...process.env, KILN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  collectLines(child, logs);
  const alive = () => child.exitCode === null && child.signalCode === null;
  const ready = () => logs.some((line) => line.includes('"worker ready"'));
  const count = (message: string) => logs.filter((line) => line.includes(message)).length;
  return {
    logs,
    alive,
    ready,
    busy: () => count('"attempt started"') > count('"attempt ended"'),
    async waitReady(timeoutMs = 60_000) {
      await pollUntil(
        async () => {
          if (!alive())
            throw new Error(`kiln worker exited (${child.exitCode ?? child.signalCode}):\n${logs.join('\n')}`);
          return ready() || undefined;
        },
        timeoutMs,
        50,
      );
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child, 5000);
    },
    async stop(graceMs = 10_000) {
      child.kill('SIGTERM');
      if (!(await exited(child, graceMs))) await this.kill();
    },
  };
}

/** mulberry32: a small seeded generator, enough to replay kill timings. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Fleet {
  workers: WorkerProcess[];
  /** Workers SIGKILLed so far. */
  kills: number;
  /**
   * SIGKILLs one ready worker chosen at random, preferring one that holds a job (waiting up to a
   * second for one), and starts its replacement at once.
   */
  killOne(): Promise<void>;
  /** Every worker that was ever started is gone (the dead already are). */
  stop(): Promise<void>;
  /** Whether a worker died without being killed by the fleet. */
  unexpectedDeaths(): WorkerProcess[];
}

/** `size` worker processes kept at that size: each one killed is replaced by a fresh one. */
export async function startFleet(size: number, env: Record<string, string>, random: () => number): Promise<Fleet> {
  const started: WorkerProcess[] = [];
  const killed = new Set<WorkerProcess>();
  const launch = () => {
    const worker = spawnWorker(env);
    started.push(worker);
    fleet.workers.push(worker);
    return worker;
  };
  const fleet: Fleet = {
    workers: [],
    kills: 0,
    async killOne() {
      // A worker still starting holds no job yet: killing it would test nothing. Tiny jobs end in
      // milliseconds, so an idle worker is only the victim when none is busy within a second.
      const ready = () => fleet.workers.filter((w) => w.ready() && w.alive());
      const busy = await pollUntil(
        async () => {
          const holding = ready().filter((w) => w.busy());
          return holding.length > 0 ? holding : undefined;
        },
        1000,
        5,
      ).catch(() => []);
      const candidates = busy.length > 0 ? busy : ready();
      if (candidates.length === 0) return;
      const victim = candidates[Math.floor(random() * candidates.length)]!;
      killed.add(victim);
      fleet.workers.splice(fleet.workers.indexOf(victim), 1);
      await victim.kill();
      fleet.kills++;
      launch();
    },
    async stop() {
      await Promise.all(started.map((w) => (w.alive() ? w.stop() : undefined)));
    },
    unexpectedDeaths: () => started.filter((w) => !w.alive() && !killed.has(w)),
  };
  for (let i = 0; i < size; i++) launch();
  await Promise.all(fleet.workers.map((w) => w.waitReady()));
  return fleet;
}
