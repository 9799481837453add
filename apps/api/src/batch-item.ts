/**
 * Validates one batch item the way `POST /generate/sd|sd3` validates a request (same schema,
 * same image and webhook checks), and turns it into what the batch stages: the normalized
 * request, its seeds, a job id, the resubmission hash and its fair-share cost. A bad item becomes
 * an error entry with its line and custom_id; it never stops the batch.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import {
  KilnError,
  batchItemSchema,
  parseGenerateRequest,
  resolveSeeds,
  toValidationErrorBody,
  type ModelFamily,
  type ValidationErrorDetail,
} from '@kiln/contracts';
import { canonicalJson, fairCost, type ItemError } from '@kiln/queue';
import { inputKey } from '@kiln/storage';
import type { Caller } from './auth.js';
import type { RawBatchItem } from './batch-body-reader.js';
import type { ApiDeps } from './deps.js';
import { checkBase64Image } from './image-input.js';
import { assertWebhookTarget } from './webhook-target.js';

const FAMILY_OF_URL: Record<string, ModelFamily> = { '/generate/sd': 'sd15', '/generate/sd3': 'sd3' };
const IMAGE_FIELDS = ['init_image', 'mask_image'] as const;

export interface StagedItem {
  kind: 'item';
  i: number;
  line: number;
  custom_id: string;
  job_id: string;
  family: ModelFamily;
  request: Record<string, unknown>;
  inputs: Record<string, string>;
  seeds: number[];
  /** SHA-256 of custom_id, url and the normalized body: the resubmission key. */
  hash: string;
  cost: number;
}

export interface StagedError {
  kind: 'error';
  i: number;
  line: number;
  custom_id: string | null;
  error: ItemError;
}

export type Staged = StagedItem | StagedError;

/** The resubmission key of an item: the same custom_id, endpoint and (normalized) body. */
export function itemHash(customId: string, url: string, request: Record<string, unknown>): string {
  return createHash('sha256').update(`${customId}\n${url}\n${canonicalJson(request)}`).digest('hex');
}

/** Validation details of the item envelope: `loc` starts inside the item (`["url"]`, `["body"]`). */
function itemDetails(details: readonly ValidationErrorDetail[]): ValidationErrorDetail[] {
  return details.map((d) => ({ ...d, loc: d.loc[0] === 'body' ? d.loc.slice(1) : d.loc }));
}

export class BatchItemValidator {
  private readonly seen = new Map<string, number>();
  private readonly families = new Map<ModelFamily, Promise<boolean>>();
  private readonly webhookChecks = new Map<string, Promise<KilnError | undefined>>();

  constructor(
    private readonly deps: Pick<ApiDeps, 'config' | 'models' | 'notifications' | 'store'>,
    private readonly caller: Caller,
  ) {}

  private available(family: ModelFamily): Promise<boolean> {
    let known = this.families.get(family);
    if (!known) this.families.set(family, (known = this.deps.models.isAvailable(family)));
    return known;
  }

  /** One DNS check per distinct URL in a batch. */
  private webhookProblem(url: string): Promise<KilnError | undefined> {
    let known = this.webhookChecks.get(url);
    if (!known) {
      known = assertWebhookTarget(this.deps, this.caller, url).then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof KilnError) return err;
          throw err;
        },
      );
      this.webhookChecks.set(url, known);
    }
    return known;
  }

  async validate(raw: RawBatchItem): Promise<Staged> {
    const fail = (customId: string | null, error: ItemError): StagedError => ({ kind: 'error', i: raw.index, line: raw.line, custom_id: customId, error });
    let value: unknown;
    try {
      value = JSON.parse(raw.text);
    } catch (err) {
      return fail(null, { code: 'invalid_request', message: `line ${raw.line} is not valid JSON: ${(err as Error).message}` });
    }
    const looseId = value && typeof value === 'object' && typeof (value as { custom_id?: unknown }).custom_id === 'string' ? (value as { custom_id: string }).custom_id : null;

    const item = batchItemSchema.safeParse(value);
    if (!item.success) {
      const body = toValidationErrorBody(item.error, value);
      const detail = itemDetails(body.detail);
      return fail(looseId, { code: 'invalid_request', message: `line ${raw.line}: ${detail[0]?.loc.join('.') || 'item'}: ${detail[0]?.msg}`, detail });
    }
    const { custom_id: customId, url, body } = item.data;
    const firstLine = this.seen.get(customId);
    if (firstLine !== undefined) {
      return fail(customId, { code: 'invalid_request', message: `line ${raw.line}: custom_id ${JSON.stringify(customId)} is already used on line ${firstLine}` });
    }
    this.seen.set(customId, raw.line);
    if (body.custom_id !== undefined && body.custom_id !== customId) {
      return fail(customId, { code: 'invalid_request', message: `line ${raw.line}: body.custom_id differs from the item's custom_id` });
    }
    const family = FAMILY_OF_URL[url];
    const parsed = parseGenerateRequest(family, { ...body, custom_id: customId }, { allowAnyResolution: this.deps.config.allowAnyResolution });
    if (!parsed.success) {
      return fail(customId, { code: 'invalid_request', message: `line ${raw.line}: ${parsed.body.error.message}`, detail: parsed.body.detail });
    }
    if (!(await this.available(family))) {
      return fail(customId, { code: 'model_unavailable', message: `no ${family === 'sd3' ? 'SD3' : 'SD1.5'} model is configured on this server` });
    }
    const { family: _family, ...fields } = parsed.data;
    const request: Record<string, unknown> = fields;
    if (parsed.data.webhook_url !== undefined) {
      const problem = await this.webhookProblem(parsed.data.webhook_url);
      if (problem) {
        return fail(customId, {
          code: problem.code,
          message: `line ${raw.line}: ${problem.message}`,
          detail: [{ loc: ['body', 'webhook_url'], msg: problem.message, type: 'value_error' }],
        });
      }
    }
    const hash = itemHash(customId, url, request);
    const jobId = randomUUID();
    const inputs: Record<string, string> = {};
    for (const field of IMAGE_FIELDS) {
      const image = request[field];
      if (typeof image !== 'string') continue;
      try {
        const checked = checkBase64Image(field, image, this.deps.config.maxImagePixels);
        const key = inputKey(jobId, field);
        await this.deps.store.put(key, checked.bytes);
        inputs[field] = key;
        request[field] = key; // jobs carry storage keys, never image bytes
      } catch (err) {
        if (!(err instanceof KilnError)) throw err;
        return fail(customId, { code: err.code, message: `line ${raw.line}: ${err.message}` });
      }
    }
    return {
      kind: 'item',
      i: raw.index,
      line: raw.line,
      custom_id: customId,
      job_id: jobId,
      family,
      request,
      inputs,
      seeds: resolveSeeds(parsed.data.seed, parsed.data.num_images, () => randomInt(0, 2 ** 32)),
      hash,
      cost: fairCost(request),
    };
  }
}
