/**
 * What `kiln batch` submits, from a JSONL or CSV file.
 *
 * - JSONL: one batch item per line, `{"custom_id","url","body"}` exactly as `POST /v1/batches`
 *   takes it (`url` defaults to `/generate/sd`); a line without `body` is taken as the body itself,
 *   its `custom_id` member (else `line<N>`) naming it.
 * - CSV: a header row, then one prompt per row; each row × each seed of its seed range becomes
 *   one single-image item with custom_id `<row id>-s<seed>` (row id: the `custom_id` column, else
 *   `row<N>`, N counting data rows from 1). Columns: see {@link CSV_COLUMNS}; empty cells take the
 *   command-line defaults (`--steps`, `--width`, …), then the API's.
 *
 * Every item is validated with the API's own request schema before anything is sent: the
 * normalized request (defaults applied) is what the manifest records.
 */
import { parseGenerateRequest, type GenerateRequest, type ModelFamily } from '@kiln/contracts';
import { parseCsv } from './csv.js';

export const CSV_COLUMNS = {
  prompt: 'the prompt (required)',
  custom_id: 'the row id (default row<N>); items are named <row id>-s<seed>',
  negative_prompt: 'negative prompt',
  seed: 'one seed for this row (instead of the seed range)',
  seeds: 'a seed range for this row, like --seeds',
  sampler: 'sampler name',
  steps: 'denoising steps',
  cfg_scale: 'guidance scale',
  width: 'width in pixels',
  height: 'height in pixels',
  checkpoint: 'model name',
  clip_skip: 'CLIP skip',
  image_encoding: 'png or jpeg',
} as const;

const NUMERIC = new Set(['seed', 'steps', 'cfg_scale', 'width', 'height', 'clip_skip']);

export interface BatchInputItem {
  custom_id: string;
  url: '/generate/sd' | '/generate/sd3';
  body: Record<string, unknown>;
  /** The request as the API will see it, defaults applied. */
  request: GenerateRequest;
  /** Line of the input file the item comes from. */
  line: number;
}

export interface InputProblem {
  line: number;
  custom_id: string | null;
  message: string;
}

export interface BatchInput {
  items: BatchInputItem[];
  problems: InputProblem[];
}

/** "0-9", "5", "1,4,9", "0-3,10-12" → the seeds, in order, without repeats. */
export function parseSeedRange(text: string): number[] {
  const seeds: number[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Error(`seed range ${JSON.stringify(text)}: "${part}" is not a seed or a from-to range`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`seed range ${JSON.stringify(text)}: ${to} < ${from}`);
    if (to - from >= 1_000_000) throw new Error(`seed range ${JSON.stringify(text)} is over a million seeds`);
    if (to >= 2 ** 32) throw new Error(`seed range ${JSON.stringify(text)}: seeds are below 2^32`);
    for (let s = from; s <= to; s++) seeds.push(s);
  }
  if (seeds.length === 0) throw new Error('the seed range is empty');
  return [...new Set(seeds)];
}

const FAMILIES = {
  '/generate/sd': 'sd15',
  '/generate/sd3': 'sd3',
} as const satisfies Record<BatchInputItem['url'], ModelFamily>;

function normalize(
  url: BatchInputItem['url'],
  body: Record<string, unknown>,
): { ok: true; request: GenerateRequest } | { ok: false; message: string } {
  const parsed = parseGenerateRequest(FAMILIES[url], body, { allowAnyResolution: true });
  if (parsed.success) return { ok: true, request: parsed.data };
  return { ok: false, message: parsed.body.error.message };
}

function collect(candidates: Array<Omit<BatchInputItem, 'request'>>, problems: InputProblem[]): BatchInput {
  const items: BatchInputItem[] = [];
  const seen = new Map<string, number>();
  for (const c of candidates) {
    const first = seen.get(c.custom_id);
    if (first !== undefined) {
      problems.push({
        line: c.line,
        custom_id: c.custom_id,
        message: `custom_id ${c.custom_id} is already used on line ${first}`,
      });
      continue;
    }
    seen.set(c.custom_id, c.line);
    const normalized = normalize(c.url, c.body);
    if (!normalized.ok) problems.push({ line: c.line, custom_id: c.custom_id, message: normalized.message });
    else items.push({ ...c, request: normalized.request });
  }
  problems.sort((a, b) => a.line - b.line);
  return { items, problems };
}

export function itemsFromJsonl(text: string): BatchInput {
  const candidates: Array<Omit<BatchInputItem, 'request'>> = [];
  const problems: InputProblem[] = [];
  text.split('\n').forEach((raw, k) => {
    const line = k + 1;
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      problems.push({ line, custom_id: null, message: `not valid JSON: ${(err as Error).message}` });
      return;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ line, custom_id: null, message: 'not a JSON object' });
      return;
    }
    const v = value as Record<string, unknown>;
    const isItem = typeof v.body === 'object' && v.body !== null;
    const customId = typeof v.custom_id === 'string' ? v.custom_id : `line${line}`;
    const url = (isItem ? (v.url ?? '/generate/sd') : '/generate/sd') as string;
    if (url !== '/generate/sd' && url !== '/generate/sd3') {
      problems.push({
        line,
        custom_id: customId,
        message: `url must be /generate/sd or /generate/sd3, not ${JSON.stringify(url)}`,
      });
      return;
    }
    const body = isItem ? { ...(v.body as Record<string, unknown>) } : { ...v };
    if (!isItem) delete body.custom_id;
    candidates.push({ custom_id: customId, url, body, line });
  });
  return collect(candidates, problems);
}

export interface CsvOptions {
  /** Seed range for rows without `seed`/`seeds` (default "0"). */
  seeds?: string;
  /** Request fields for empty cells. */
  defaults: Record<string, unknown>;
}

export function itemsFromCsv(text: string, options: CsvOptions): BatchInput {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new Error('the CSV file is empty');
  const header = rows[0].fields.map((h) => h.trim());
  const unknown = header.filter((h) => !(h in CSV_COLUMNS));
  if (unknown.length > 0)
    throw new Error(
      `unknown CSV column ${JSON.stringify(unknown[0])}; columns: ${Object.keys(CSV_COLUMNS).join(', ')}`,
    );
  if (!header.includes('prompt')) throw new Error('the CSV file needs a "prompt" column');
  const defaultSeeds = parseSeedRange(options.seeds ?? '0');
  const candidates: Array<Omit<BatchInputItem, 'request'>> = [];
  const problems: InputProblem[] = [];
  rows.slice(1).forEach((row, k) => {
    const cells: Record<string, string> = {};
    header.forEach((name, i) => {
      const value = (row.fields[i] ?? '').trim();
      if (value !== '') cells[name] = value;
    });
    const rowId = cells.custom_id ?? `row${k + 1}`;
    const body: Record<string, unknown> = { ...options.defaults };
    for (const [name, value] of Object.entries(cells)) {
      if (name === 'custom_id' || name === 'seeds' || name === 'seed') continue;
      body[name] = NUMERIC.has(name) ? Number(value) : value;
    }
    let seeds: number[];
    try {
      seeds =
        cells.seed !== undefined
          ? [Number(cells.seed)]
          : cells.seeds !== undefined
            ? parseSeedRange(cells.seeds)
            : defaultSeeds;
    } catch (err) {
      problems.push({ line: row.line, custom_id: rowId, message: (err as Error).message });
      return;
    }
    for (const seed of seeds) {
      candidates.push({ custom_id: `${rowId}-s${seed}`, url: '/generate/sd', body: { ...body, seed }, line: row.line });
    }
  });
  return collect(candidates, problems);
}
