import { it, expect } from 'vitest';
import { startHarness } from './harness.js';
it('100k items', async () => {
  const h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' }, { worker: false });
  try {
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(JSON.stringify({ custom_id: `c${i}`, url: '/generate/sd', body: { prompt: `a prompt number ${i} with some words`, width: 64, height: 64, steps: 1, seed: i } }));
    const body = lines.join('\n');
    console.log('body MB', (body.length / 1e6).toFixed(1));
    const m0 = process.memoryUsage().rss;
    const t0 = Date.now();
    const res = await fetch(`${h.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    const json: any = await res.json();
    console.log('status', res.status, 'ms', Date.now() - t0, 'rss MB', ((process.memoryUsage().rss - m0) / 1e6).toFixed(0), JSON.stringify(json.counts));
    expect(res.status).toBe(201);
    const t1 = Date.now();
    const r = await fetch(`${h.url}/v1/batches/${json.id}/results`);
    const text = await r.text();
    console.log('results ms', Date.now() - t1, 'lines', text.split('\n').filter(Boolean).length);
    const t2 = Date.now();
    const c = await fetch(`${h.url}/v1/batches/${json.id}/cancel`, { method: 'POST' });
    console.log('cancel', c.status, 'ms', Date.now() - t2, JSON.stringify(((await c.json()) as any).counts));
  } finally {
    await h.stop();
  }
}, 600_000);
