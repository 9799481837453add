/** Where a job's artefacts live in the store; one place so API and worker agree. */
export const resultKey = (jobId: string, index: number, extension: string): string =>
  `results/${jobId}/${index}.${extension}`;
export const resultManifestKey = (jobId: string): string => `results/${jobId}/result.json`;
export const inputKey = (jobId: string, field: string): string => `inputs/${jobId}/${field}`;
/** An uploaded asset's file: by upload id, never by the tenant's name for it (names are metadata). */
export const assetKey = (uploadId: string, extension: string): string => `assets/${uploadId}.${extension}`;
