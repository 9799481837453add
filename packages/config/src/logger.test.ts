/**
 * The process logger in a real child process writing to a pipe: lines are written in blocks, yet a
 * quiet process's line still arrives promptly, every line is there when the process exits, and
 * secrets are redacted.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LOGGER = fileURLToPath(new URL('../dist/logger.js', import.meta.url));

/** Runs `script` (an ES module with `createLogger` in scope) in a child; its stdout as it arrives. */
function child(script: string) {
  const proc = spawn(
    process.execPath,
    ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(LOGGER)};\n${script}`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { proc, output: () => output, exited };
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('createLogger', () => {
  it("writes a quiet process's line within a fraction of a second", async () => {
    const c = child(`createLogger('quiet').info('one line'); setTimeout(() => {}, 10_000);`);
    try {
      const started = Date.now();
      while (!c.output().includes('one line') && Date.now() - started < 2000)
        await new Promise((r) => setTimeout(r, 10));
      expect(lines(c.output()).map((l) => l.msg)).toEqual(['one line']);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      c.proc.kill();
    }
  });

  it('writes every line, in order, by the time the process exits', async () => {
    const c = child(`
      const a = createLogger('a');
      const b = createLogger('b');
      for (let i = 0; i < 2000; i++) (i % 2 ? b : a).info({ i }, 'line');
      process.exit(0);`);
    expect(await c.exited).toBe(0);
    const written = lines(c.output());
    expect(written.map((l) => l.i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(written[1].name).toBe('b');
  });

  it('redacts credential headers and secrets', async () => {
    const c = child(`
      createLogger('r').info({ req: { headers: { authorization: 'Bearer s3cret', host: 'h' } }, hook: { webhook_secret: 'w5' } }, 'x');
      process.exit(0);`);
    await c.exited;
    expect(c.output()).not.toMatch(/s3cret|w5/);
    expect(lines(c.output())[0]).toMatchObject({ req: { headers: { authorization: '[redacted]', host: 'h' } } });
  });
});
