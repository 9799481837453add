/**
 * Validates one batch item through the same intake as `POST /generate/sd|sd3` (same schema, same
 * image and webhook checks), and turns it into what the batch stages: its job, the resubmission
 * hash and its fair-share cost. A bad item becomes an error entry with its line and custom_id; it
 * never stops the batch.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  KilnError,
  batchItemSchema,
  toValidationErrorBody,
  type GenerateRequest,
  type ModelFamily,
  type RenderJobData,
  type ValidationErrorDetail,
} from '@kiln/contracts';
import { canonicalJson, fairCost, type ItemError } from '@kiln/state';
import type { Caller } from './auth.js';
import type { RawBatchItem } from './batch-body-reader.js';
import type { ApiDeps } from './deps.js';
import { Intake } from './intake.js';

const FAMILY_OF_URL: Record<string, ModelFamily> = { '/generate/sd': 'sd15', '/generate/sd3': 'sd3' };

export interface StagedItem {
  kind: 'item';
  i: number;
  line: number;
  custom_id: string;
  job_id: string;
  /** The job, without its fair-share tag (given when it is enqueued). */
  job: RenderJobData;
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
export function itemHash(customId: string, url: string, request: GenerateRequest): string {
  const { family: _family, ...fields } = request;
  return createHash('sha256')
    .update(`${customId}\n${url}\n${canonicalJson(fields)}`)
    .digest('hex');
}

/** Validation details of the item envelope: `loc` starts inside the item (`["url"]`, `["body"]`). */
function itemDetails(details: readonly ValidationErrorDetail[]): ValidationErrorDetail[] {
  return details.map((d) => ({ ...d, loc: d.loc[0] === 'body' ? d.loc.slice(1) : d.loc }));
}

export class BatchItemValidator {
  private readonly seen = new Map<string, number>();
  private readonly intake: Intake;

  constructor(
    deps: Pick<ApiDeps, 'config' | 'models' | 'secrets' | 'store' | 'redis' | 'memory'>,
    private readonly batchId: string,
    private readonly baseUrl: string,
    caller: Caller,
  ) {
    this.intake = new Intake(deps, caller);
  }

  async validate(raw: RawBatchItem): Promise<Staged> {
    const fail = (customId: string | null, error: ItemError): StagedError => ({
      kind: 'error',
      i: raw.index,
      line: raw.line,
      custom_id: customId,
      error,
    });
    let value: unknown;
    try {
      value = JSON.parse(raw.text);
    } catch (err) {
      return fail(null, {
        code: 'invalid_request',
        message: `line ${raw.line} is not valid JSON: ${(err as Error).message}`,
      });
    }
    const looseId =
      value && typeof value === 'object' && typeof (value as { custom_id?: unknown }).custom_id === 'string'
        ? (value as { custom_id: string }).custom_id
        : null;

    const item = batchItemSchema.safeParse(value);
    if (!item.success) {
      const body = toValidationErrorBody(item.error, value);
      const detail = itemDetails(body.detail);
      return fail(looseId, {
        code: 'invalid_request',
        message: `line ${raw.line}: ${detail[0]?.loc.join('.') || 'item'}: ${detail[0]?.msg}`,
        detail,
      });
    }
    const { custom_id: customId, url, body } = item.data;
    const firstLine = this.seen.get(customId);
    if (firstLine !== undefined) {
      return fail(customId, {
        code: 'invalid_request',
        message: `line ${raw.line}: custom_id ${JSON.stringify(customId)} is already used on line ${firstLine}`,
      });
    }
    this.seen.set(customId, raw.line);
    if (body.custom_id !== undefined && body.custom_id !== customId) {
      return fail(customId, {
        code: 'invalid_request',
        message: `line ${raw.line}: body.custom_id differs from the item's custom_id`,
      });
    }
    const jobId = randomUUID();
    try {
      const request = await this.intake.validate(FAMILY_OF_URL[url], { ...body, custom_id: customId });
      const job = await this.intake.toJob(request, { jobId, baseUrl: this.baseUrl, batchId: this.batchId });
      const { request: r } = job;
      return {
        kind: 'item',
        i: raw.index,
        line: raw.line,
        custom_id: customId,
        job_id: jobId,
        job,
        hash: itemHash(customId, url, request),
        cost: fairCost({ images: job.seeds.length, steps: r.steps, width: r.width, height: r.height }),
      };
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      const detail =
        err.validation ??
        (err.field ? [{ loc: ['body', err.field], msg: err.message, type: 'value_error' }] : undefined);
      return fail(customId, { code: err.code, message: `line ${raw.line}: ${err.message}`, ...(detail && { detail }) });
    }
  }
}
