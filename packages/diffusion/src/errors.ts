/**
 * A render that cannot succeed because of what was asked (not because of Kiln): the worker
 * reports it to the client as 422 and never retries it.
 */
export class RenderInputError extends Error {
  constructor(
    readonly code: 'input_rejected' | 'invalid_image',
    message: string,
    /** The request field at fault, e.g. "clip_skip". */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'RenderInputError';
  }
}

/** Thrown when a render's AbortSignal fires; the job ends `canceled`. */
export class RenderAbortedError extends Error {
  constructor() {
    super('render canceled');
    this.name = 'RenderAbortedError';
  }
}
