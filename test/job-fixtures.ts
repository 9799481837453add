/** Jobs built the way the API's intake builds them (parse → normalise), for tests that queue jobs directly. */
import { parseGenerateRequest, toJobRequest, type RenderJobData } from '@kiln/contracts';

export function sd15Job(body: Record<string, unknown> = {}, envelope: Partial<RenderJobData> = {}): RenderJobData {
  const parsed = parseGenerateRequest(
    'sd15',
    { prompt: 'a photo of a cat', steps: 2, width: 64, height: 64, ...body },
    { allowAnyResolution: true },
  );
  if (!parsed.success) throw new Error(`test job body does not validate: ${parsed.body.error.message}`);
  return {
    ...toJobRequest(parsed.data),
    seeds: [1],
    inputs: {},
    tenant: 'local',
    keyId: 'local',
    submittedAt: Date.now(),
    baseUrl: 'http://127.0.0.1',
    ...envelope,
  } as RenderJobData;
}
