import { z } from 'zod';
import { errorInfoSchema } from './errors.js';
import { MAX_SEED } from './seeds.js';

/** One generated image in OctoAI's `ImageGenerationResponse`. */
export const generatedImageSchema = z
  .object({
    image_b64: z
      .string()
      .nullable()
      .describe('The image, base64 of the requested encoding (JPEG or PNG); null when removed for safety.'),
    removed_for_safety: z
      .boolean()
      .describe(
        "True when the model's safety checker flagged the image (it is then withheld); false without a checker.",
      ),
    seed: z.int().min(0).max(MAX_SEED).describe('The seed that reproduces this image alone.'),
    safety_score: z
      .number()
      .nullable()
      .describe("The safety checker's score, when the model has a checker; otherwise null."),
  })
  .meta({ description: 'One image, in seed order.' });

/** One image of a sync response. */
export type GeneratedImage = z.output<typeof generatedImageSchema>;

/**
 * The 200 body of `POST /generate/sd|sd3` and of `GET /v1/responses/{id}`: OctoAI's
 * `ImageGenerationResponse` plus Kiln's job `id`.
 */
export const imageGenerationResponseSchema = z
  .object({
    images: z.array(generatedImageSchema).describe('One entry per image, in seed order.'),
    prediction_time_ms: z.number().min(0).describe('Time spent generating, in milliseconds (queue wait excluded).'),
    id: z.string().describe("Kiln's job id: `GET /v1/jobs/{id}` shows the job."),
  })
  .meta({
    title: 'ImageGenerationResponse',
    description: 'The generated images (OctoAI ImageGenerationResponse plus the job id).',
  });

/** The 200 body of a generation. */
export type ImageGenerationResponse = z.output<typeof imageGenerationResponseSchema>;

/** The 201 body of a POST sent with `X-OctoAI-Async: 1`. */
export const asyncAcceptedSchema = z
  .object({
    response_id: z.string().describe('Id to poll; the same as the job id.'),
    poll_url: z.string().describe('Absolute URL of `GET /v1/requests/{response_id}`.'),
  })
  .meta({ title: 'AsyncAccepted', description: 'The request was queued; poll `poll_url`.' });

/** The 201 body of an async request. */
export type AsyncAccepted = z.output<typeof asyncAcceptedSchema>;

/** States of an OctoAI async request (`queued` jobs show as `pending`). */
export const REQUEST_STATUSES = ['pending', 'running', 'completed', 'failed', 'canceled'] as const;

/** One of {@link REQUEST_STATUSES}. */
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** The body of `GET /v1/requests/{id}`. */
export const requestStatusSchema = z
  .object({
    status: z.enum(REQUEST_STATUSES).describe('`pending` while queued, then `running`, then a final state.'),
    response_url: z.string().optional().describe('Absolute URL of `GET /v1/responses/{id}`; present once `completed`.'),
    error: errorInfoSchema.optional().describe('Why it failed or was canceled; present when `failed` or `canceled`.'),
  })
  .meta({ title: 'RequestStatus', description: 'State of an async request (OctoAI shape).' });

/** The body of `GET /v1/requests/{id}`. */
export type RequestStatusBody = z.output<typeof requestStatusSchema>;
