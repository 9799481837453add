import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupCpuLimit, physicalCoreCount, threadsPerCore } from './cpu-cores.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-cpu-cores-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** A sysfs-like tree: one entry per logical CPU with its package and core id. */
async function topology(name: string, cpus: [pkg: number, core: number][]): Promise<string> {
  const dir = path.join(root, name);
  for (const [i, [pkg, core]] of cpus.entries()) {
    await mkdir(path.join(dir, `cpu${i}`, 'topology'), { recursive: true });
    await writeFile(path.join(dir, `cpu${i}`, 'topology', 'physical_package_id'), `${pkg}\n`);
    await writeFile(path.join(dir, `cpu${i}`, 'topology', 'core_id'), `${core}\n`);
  }
  await mkdir(path.join(dir, 'cpufreq'), { recursive: true });
  return dir;
}

describe('cpu cores', () => {
  it('counts hardware threads per core from the topology', async () => {
    expect(threadsPerCore(await topology('smt', [[0, 0], [0, 1], [0, 0], [0, 1]]))).toBe(2);
    expect(threadsPerCore(await topology('plain', [[0, 0], [0, 1], [1, 0], [1, 1]]))).toBe(1);
    expect(threadsPerCore(path.join(root, 'missing'))).toBe(1);
  });

  it('reads a cgroup v2 CPU quota in whole CPUs, rounded up', async () => {
    const file = path.join(root, 'cpu.max');
    await writeFile(file, '150000 100000\n');
    expect(cgroupCpuLimit(file)).toBe(2);
    await writeFile(file, 'max 100000\n');
    expect(cgroupCpuLimit(file)).toBeUndefined();
    expect(cgroupCpuLimit(path.join(root, 'none'))).toBeUndefined();
  });

  it('gives this machine at least one and at most its logical CPUs', () => {
    const count = physicalCoreCount();
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThanOrEqual(os.availableParallelism());
  });
});
