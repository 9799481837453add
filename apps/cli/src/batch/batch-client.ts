/** The HTTP calls `kiln batch` makes to a running Kiln. */
/** What `POST /v1/batches` answers (the fields the CLI reads). */
interface SubmittedBatch {
  id: string;
  counts: Record<string, number>;
  errors?: Array<{ line: number; custom_id: string | null; error: { message: string } }>;
}

/** What `GET /v1/batches/{id}` answers (the fields the CLI reads). */
interface BatchState {
  status: string;
  counts: Record<string, number>;
}

export class KilnHttpError extends Error {}

export interface ResultLine {
  custom_id: string | null;
  line: number;
  job_id: string | null;
  status: 'invalid' | 'queued' | 'running' | 'completed' | 'failed' | 'canceled';
  seeds: number[];
  images: Array<{
    index: number;
    seed: number;
    url: string | null;
    content_type: string;
    /** A presigned URL straight to object storage (S3 store), and the bytes' checksum. */
    image_url?: string | null;
    sha256?: string | null;
  }>;
  model: string | null;
  error: { code: string; message: string } | null;
}

export class KilnClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey && { authorization: `Bearer ${this.apiKey}` }), ...extra };
  }

  private async call(
    method: string,
    pathname: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${pathname}`, { method, headers: this.headers(headers), body });
    } catch (err) {
      throw new KilnHttpError(
        `cannot reach Kiln at ${this.baseUrl} (${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}); is it running? (--url)`,
      );
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: the text it is
      }
      throw new KilnHttpError(`${method} ${pathname}: ${res.status} ${message}`);
    }
    return res;
  }

  async submit(jsonl: string): Promise<SubmittedBatch> {
    return (await (
      await this.call('POST', '/v1/batches', jsonl, { 'content-type': 'application/x-ndjson' })
    ).json()) as SubmittedBatch;
  }

  async batch(id: string): Promise<BatchState> {
    return (await (await this.call('GET', `/v1/batches/${id}`)).json()) as BatchState;
  }

  /** Items that have ended, in the order they ended, from position `offset`. */
  async finishedSince(id: string, offset: number): Promise<ResultLine[]> {
    // image_urls=1: download from object storage where Kiln has one, with checksums either way.
    const text = await (
      await this.call('GET', `/v1/batches/${id}/results?order=finished&offset=${offset}&image_urls=1`)
    ).text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ResultLine);
  }

  /** Where and how to fetch an image through the API (for downloads that stream to disk). */
  get imageAccess(): { url(imageUrl: string): string; headers: Record<string, string> } {
    return {
      url: (imageUrl) => `${this.baseUrl}${imageUrl.startsWith('http') ? new URL(imageUrl).pathname : imageUrl}`,
      headers: this.headers(),
    };
  }

  async download(url: string): Promise<Buffer> {
    const res = await this.call('GET', url.startsWith('http') ? new URL(url).pathname : url);
    return Buffer.from(await res.arrayBuffer());
  }
}
