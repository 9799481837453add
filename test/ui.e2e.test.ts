/**
 * The dashboard at /ui in a real headless Chromium (Debian's, driven by playwright-core) against a
 * real API, Redis and worker: sign in, try a prompt through the form and watch the job finish, open
 * a batch's gallery, see the fleet as an operator; a tenant sees neither the fleet nor another
 * tenant's work. With KILN_UI_SCREENSHOTS=1 it saves a screenshot of each page to docs/images/ui-*.png
 * (`npm run docs:ui-screenshots`).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

const CHROMIUM = process.env.KILN_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS =
  process.env.KILN_UI_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '../docs/images') : undefined;

const operatorKey = newKey('ops', 'kiln-ops', { operator: true } as never);
const aliceKey = newKey('alice-key', 'alice');
const bobKey = newKey('bob-key', 'bob');

let h: Harness;
let browser: Browser;
let alice: Client;
/** A job of alice's, which bob must not see. */
let aliceJobId = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (scripts/setup.mjs does as root)`);
  const keysFile = await keysFileWith([operatorKey, aliceKey, bobKey]);
  h = await startHarness({ KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1' });
  alice = client(h.url, aliceKey.token);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // What this machine's closed network needs: no background calls to Google's hosts.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

/**
 * A fresh browser tab (its own sessionStorage) with the page's errors collected: uncaught
 * exceptions and console errors, but not the browser's note of each refused request (the page
 * asks the API on purpose for what a key may not see: 401 before sign-in, 403 for the fleet).
 */
async function openTab(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(msg.text());
  });
  return { page, errors };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${h.url}/ui`);
  await page.fill('input[name=api_key]', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=role]');
}

async function shoot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, `ui-${name}.png`), fullPage: true });
}

describe('the dashboard at /ui in headless Chromium', () => {
  it('serves the page without a key, under a Content-Security-Policy, and refuses a wrong key at sign-in', async () => {
    const res = await fetch(`${h.url}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self' 'sha256-/);
    expect((await fetch(`${h.url}/ui/no-such-file.js`)).status).toBe(404);
    // Before sign-in the page asks whether a key is needed (it is: there is a keys file).
    expect(await (await fetch(`${h.url}/ui/mode.json`)).json()).toEqual({ local_mode: false });

    const { page, errors } = await openTab();
    await page.goto(`${h.url}/ui`);
    expect(page.url()).toBe(`${h.url}/ui/`);
    await page.waitForSelector('input[name=api_key]');
    await shoot(page, 'login');
    await page.fill('input[name=api_key]', 'kiln_not-a-key');
    await page.click('button[type=submit]');
    await expect(page.textContent('[role=alert]')).resolves.toMatch(/did not accept this key/);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a tenant tries a prompt through the form and watches the job finish', async () => {
    const { page, errors } = await openTab();
    await signIn(page, aliceKey.token);
    expect(await page.textContent('[data-testid=role]')).toBe('tenant');
    expect(await page.$('[data-nav=workers]')).toBeNull();

    await page.click('[data-nav=try]');
    await page.waitForSelector('form.request-form');
    await page.fill('[data-field=prompt]', 'a kiln at dusk');
    await page.fill('[data-field=steps]', '2');
    await page.fill('[data-field=num_images]', '2');
    await page.fill('[data-field=seed]', '7');
    await page.fill('[data-field=width]', '64');
    await page.fill('[data-field=height]', '64');
    await page.selectOption('[data-field=sampler]', 'K_EULER');
    await page.selectOption('[data-field=image_encoding]', 'png');
    await page.click('details summary');
    await page.selectOption('[data-field=log_prompt]', 'true');
    await shoot(page, 'try');
    await page.click('form.request-form button[type=submit]');

    await page.waitForURL(/#\/jobs\/.+/);
    const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]);
    aliceJobId = jobId;
    await page.waitForSelector('[data-testid=job-status]:text("completed")', { timeout: 30_000 });
    // Both images shown from their bytes (fetched with the key), each with its seed.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid=job-images] img')].filter(
          (i) => (i as HTMLImageElement).naturalWidth === 64,
        ).length === 2,
    );
    const seeds = await page.$$eval('[data-testid=job-images] figure', (figs) =>
      figs.map((f) => f.getAttribute('data-seed')),
    );
    expect(seeds).toEqual(['7', '8']);
    const parameters = await page.textContent('[data-testid=parameters]');
    expect(parameters).toContain('K_EULER');
    expect(parameters).toContain('a kiln at dusk');
    await shoot(page, 'job');

    // What the page showed is what the API says of the job.
    const job = (await alice.get(`/v1/jobs/${jobId}`)).json;
    expect(job).toMatchObject({
      status: 'completed',
      seeds: [7, 8],
      parameters: { steps: 2, sampler: 'K_EULER', width: 64 },
    });

    await page.click('[data-nav=jobs]');
    await page.waitForSelector(`[data-job="${jobId}"]`);
    expect(await page.textContent(`[data-job="${jobId}"]`)).toContain('completed');
    await shoot(page, 'jobs');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a tenant cancels a running job from its page', async () => {
    // long enough to be caught: 512×512, 200 steps on the tiny model
    const long = await alice.post('/generate/sd', smallRequest({ width: 512, height: 512, steps: 200 }), ASYNC);
    expect(long.status, long.text).toBe(201);
    const { page, errors } = await openTab();
    await signIn(page, aliceKey.token);
    await page.goto(`${h.url}/ui/#/jobs/${long.json.response_id}`);
    await page.click('button:text("Cancel")');
    await page.waitForSelector('[data-testid=job-status]:text("canceled")', { timeout: 30_000 });
    expect((await alice.get(`/v1/jobs/${long.json.response_id}`)).json.status).toBe('canceled');
    expect(await page.$('button:text("Cancel")')).toBeNull();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("a refused field is shown at the field, with the API's message", async () => {
    const { page } = await openTab();
    await signIn(page, aliceKey.token);
    await page.goto(`${h.url}/ui/#/try`);
    await page.fill('[data-field=prompt]', 'too many steps');
    await page.fill('[data-field=steps]', '999');
    await page.click('form.request-form button[type=submit]');
    await page.waitForSelector('.has-error [data-field=steps]');
    expect(await page.textContent('.has-error .field-error')).toMatch(/steps/);
    await page.context().close();
  });

  it('the form has a control for every field of both engines, from GET /openapi.json', async () => {
    const doc = await (await fetch(`${h.url}/openapi.json`)).json();
    const { page } = await openTab();
    await signIn(page, aliceKey.token);
    for (const [engine, schemaName] of [
      ['sd', 'Sd15GenerateRequest'],
      ['sd3', 'Sd3GenerateRequest'],
    ]) {
      await page.goto(`${h.url}/ui/#/try`);
      await page.selectOption('select[name=engine]', engine);
      await page.waitForSelector(`form[data-path="/generate/${engine}"]`);
      const shown = await page.$$eval('form.request-form [data-field]', (els) =>
        els.map((e) => e.getAttribute('data-field')),
      );
      const properties = doc.components.schemas[schemaName].properties as Record<string, any>;
      // A property whose only value is `not: {}` is one this engine refuses (422): no control for it.
      const accepted = Object.entries(properties)
        .filter(([, p]) =>
          (p.anyOf ?? [p]).some((b: any) => b.type !== 'null' && !(b.not && Object.keys(b.not).length === 0)),
        )
        .map(([name]) => name);
      expect(shown.sort()).toEqual(accepted.sort());
      expect(accepted.length).toBeGreaterThan(20);
    }
    await page.context().close();
  });

  it("the gallery shows a batch's images with their seeds and parameters as the batch runs", async () => {
    const items = ['red', 'blue', 'green'].map((color, i) => ({
      custom_id: `tile-${color}`,
      url: '/generate/sd',
      body: smallRequest({ prompt: `a ${color} tile`, seed: 100 + i * 10, num_images: 2, steps: 3, log_prompt: true }),
    }));
    const batch = await alice.post('/v1/batches', { requests: items });
    expect(batch.status, batch.text).toBe(201);

    const { page, errors } = await openTab();
    await signIn(page, aliceKey.token);
    await page.click('[data-nav=batches]');
    await page.waitForSelector(`[data-batch="${batch.json.id}"]`);
    await shoot(page, 'batches');
    await page.click(`[data-batch="${batch.json.id}"] a`);
    await page.waitForSelector('[data-testid=batch-status]:text("completed")', { timeout: 30_000 });
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid=batch-gallery] img')].filter(
          (i) => (i as HTMLImageElement).naturalWidth > 0,
        ).length === 6,
    );
    const figures = await page.$$eval('[data-testid=batch-gallery] figure', (figs) =>
      figs.map((f) => ({
        id: f.getAttribute('data-custom-id'),
        seed: f.getAttribute('data-seed'),
        text: f.textContent,
      })),
    );
    expect(figures.map((f) => `${f.id}:${f.seed}`)).toEqual([
      'tile-red:100',
      'tile-red:101',
      'tile-blue:110',
      'tile-blue:111',
      'tile-green:120',
      'tile-green:121',
    ]);
    expect(figures[2].text).toContain('64×64 · DDIM · 3 steps · cfg 12');
    expect(figures[2].text).toContain('a blue tile');
    await shoot(page, 'gallery');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('an operator sees the queue health and the workers', async () => {
    const { page, errors } = await openTab();
    await signIn(page, operatorKey.token);
    expect(await page.textContent('[data-testid=role]')).toBe('operator');
    const workers = (await client(h.url, operatorKey.token).get('/v1/workers')).json.workers;
    expect(workers).toHaveLength(1);

    await page.waitForSelector('[data-testid=workers-alive]:text("1 / ")');
    expect(await page.textContent('[data-testid=ready]')).toBe('yes');
    await page.waitForSelector('[data-testid=lanes] tbody tr');
    await shoot(page, 'overview');

    await page.click('[data-nav=workers]');
    await page.waitForSelector(`[data-worker="${workers[0].id}"]`);
    const row = await page.textContent(`[data-worker="${workers[0].id}"]`);
    expect(row).toContain(workers[0].execution_provider);
    expect(row).toContain(workers[0].host);
    expect(await page.textContent('[data-testid=worker-count]')).toBe('1 worker heartbeating');
    await shoot(page, 'workers');

    // bull-board, read-only, behind a cookie the dashboard gets for the operator's key
    const secret = await alice.post('/generate/sd', smallRequest({ prompt: 'a secret prompt' }), ASYNC);
    await pollUntil(async () =>
      (await alice.get(`/v1/jobs/${secret.json.response_id}`)).json.status === 'completed' ? true : undefined,
    );
    await page.click('[data-nav=queues]');
    await page.waitForURL(`${h.url}/ui/queues/**`);
    await page.waitForSelector('text=render', { timeout: 15_000 });
    const board = await page
      .context()
      .request.get(`${h.url}/ui/queues/api/queues?activeQueue=render&status=completed&page=1&jobsPerPage=50`);
    expect(board.status()).toBe(200);
    const render = (await board.json()).queues.find((q: any) => q.name === 'render');
    expect(render.readOnlyMode).toBe(true);
    const shown = render.jobs.find((j: any) => j.id === secret.json.response_id);
    expect(shown.data.request).toMatchObject({ steps: 2, log_prompt: false });
    expect(JSON.stringify(render.jobs)).not.toContain('a secret prompt'); // prompts only with log_prompt
    await page.goto(`${h.url}/ui/queues/queue/render?status=completed`);
    await page.waitForSelector(`text=${secret.json.response_id}`, { timeout: 15_000 });
    await shoot(page, 'queues');
    // bull-board's page links Google's fonts; the CSP keeps the browser from calling a third party
    expect(errors.filter((e) => !e.includes('https://fonts.googleapis.com/'))).toEqual([]);
    await page.context().close();
  });

  it('the queue board is closed to tenants and to a browser without the operator cookie', async () => {
    const bob = client(h.url, bobKey.token);
    expect((await bob.post('/v1/ui/queue-board-session')).status).toBe(403);
    expect((await fetch(`${h.url}/ui/queues/`)).status).toBe(401);
    const forged = `ops.${Math.floor(Date.now() / 1000) + 600}.${Buffer.alloc(32).toString('base64url')}`;
    expect(
      (await fetch(`${h.url}/ui/queues/api/queues`, { headers: { cookie: `kiln_queue_board=${forged}` } })).status,
    ).toBe(401);
    const ops = await client(h.url, operatorKey.token).post('/v1/ui/queue-board-session');
    expect(ops.status).toBe(204);
    const cookie = ops.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/ui\/queues/);
    const value = cookie.split(';')[0];
    expect((await fetch(`${h.url}/ui/queues/api/queues`, { headers: { cookie: value } })).status).toBe(200);
    // read-only: Kiln's job lifecycle is not to be bypassed from the board
    const pause = await fetch(`${h.url}/ui/queues/api/queues/render/pause`, {
      method: 'PUT',
      headers: { cookie: value },
    });
    expect(pause.status).toBe(405);
    expect(await h.api.deps.queue.isPaused()).toBe(false);
  });

  it("the overview shows the queue's waiting jobs and backlog as GET /v1/queue counts them", async () => {
    // An API of its own with no worker: what is queued stays queued, so the page can be compared.
    const idle = await startHarness(
      { KILN_KEYS_FILE: h.config.keysFile!, KILN_ALLOW_ANY_RESOLUTION: '1' },
      { worker: false },
    );
    try {
      const tenant = client(idle.url, aliceKey.token);
      for (const seed of [1, 2]) {
        const res = await tenant.post('/generate/sd', smallRequest({ seed, steps: 10, num_images: 2 }), ASYNC);
        expect(res.status, res.text).toBe(201);
      }
      // The backlog's counters follow the queue's events: wait until both jobs are counted.
      const operator = client(idle.url, operatorKey.token);
      const lane = await pollUntil(async () => {
        const queue = (await operator.get('/v1/queue')).json;
        return queue.lanes.find((l: any) => l.family === 'sd15' && l.waiting + l.prioritized === 2);
      }, 10_000);
      expect(lane).toBeDefined();

      const { page, errors } = await openTab();
      await page.goto(`${idle.url}/ui`);
      await page.fill('input[name=api_key]', operatorKey.token);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-testid=jobs-waiting]:text("2")');
      expect(await page.textContent('[data-testid=ready]')).toBe('no');
      expect(await page.textContent('[data-testid=workers-alive]')).toBe('0 / 0');
      const row = await page.$$eval('[data-testid=lanes] tbody tr', (rows) =>
        rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
      );
      expect(row).toContainEqual([
        'sd15',
        lane.lane,
        String(lane.waiting),
        String(lane.prioritized),
        '0',
        '0',
        lane.backlog_work_units.toFixed(2),
        expect.any(String),
      ]);
      expect(lane.backlog_work_units).toBeGreaterThan(0);
      await shoot(page, 'overview-backlog');
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await idle.stop();
    }
  });

  it('in local mode (no keys file) opens without a sign-in, as the operator', async () => {
    const local = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' }, { worker: false });
    try {
      const { page, errors } = await openTab();
      await page.goto(`${local.url}/ui`);
      await page.waitForSelector('[data-testid=role]');
      expect(await page.textContent('[data-testid=role]')).toBe('operator · local mode');
      expect(await page.$('input[name=api_key]')).toBeNull();
      expect(await page.$('[data-nav=workers]')).not.toBeNull();
      expect(errors).toEqual([]);
      await page.context().close();
    } finally {
      await local.stop();
    }
  });

  it("a tenant sees neither the fleet nor another tenant's jobs and batches", async () => {
    expect((await alice.post('/generate/sd', smallRequest(), ASYNC)).status).toBe(201);
    const { page, errors } = await openTab();
    await signIn(page, bobKey.token);
    expect(await page.textContent('[data-testid=role]')).toBe('tenant');
    expect(await page.$('[data-nav=workers]')).toBeNull();
    expect(await page.$('[data-testid=lanes]')).toBeNull();
    await page.click('[data-nav=jobs]');
    await page.waitForSelector('[data-testid=no-jobs]');
    await page.click('[data-nav=batches]');
    await page.waitForSelector('[data-testid=no-batches]');
    // alice's job, opened by id, is not found for bob, as on the API
    expect(aliceJobId).not.toBe('');
    await page.goto(`${h.url}/ui/#/jobs/${aliceJobId}`);
    await expect(page.textContent('[role=alert]')).resolves.toMatch(/no job|not found/i);
    await page.goto(`${h.url}/ui/#/workers`);
    await expect(page.textContent('[role=alert]')).resolves.toMatch(/operators only/);
    // The API behind the page refuses the fleet to this key too.
    const bob = client(h.url, bobKey.token);
    expect((await bob.get('/v1/workers')).status).toBe(403);
    expect((await bob.get('/v1/queue')).status).toBe(403);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
