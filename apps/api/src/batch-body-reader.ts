/**
 * Reads a batch upload item by item as it streams in, so a 100 000-item body is never held (or
 * parsed) as one document: JSONL is split into lines; JSON `{"requests":[…], …}` is scanned
 * with a small state machine that yields each element of `requests` as its own text (each item
 * is then `JSON.parse`d alone, so one broken item is one bad line, not a broken batch).
 * Every item carries the 1-based line of the body it starts on, for error reports.
 */
import { StringDecoder } from 'node:string_decoder';

export interface RawBatchItem {
  /** 0-based position among the items. */
  index: number;
  /** 1-based line of the body where the item starts. */
  line: number;
  text: string;
}

/** The body as a whole cannot be read (not the envelope it should be, unbalanced brackets, …). */
export class BatchBodyError extends Error {
  override readonly name = 'BatchBodyError';
}

/** An item bigger than the per-item limit: the upload stops (413). */
export class BatchItemTooLargeError extends Error {
  override readonly name = 'BatchItemTooLargeError';
  constructor(
    readonly line: number,
    readonly limit: number,
  ) {
    super(`the item starting on line ${line} is over ${limit} bytes`);
  }
}

async function* decodeText(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (text) yield text;
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

/**
 * The text of one item that spans chunks, kept as the pieces it arrived in: appending to one
 * growing string and searching or indexing it again on every chunk would make reading quadratic
 * in the item's length (a 16 MB line took 11 s); each character is looked at once and copied
 * once, when the item is complete.
 */
class Pieces {
  private parts: string[] = [];
  length = 0;

  push(text: string): void {
    if (text) this.parts.push(text);
    this.length += text.length;
  }

  /** The pieces, then `tail`, as one string; empties the list. */
  take(tail: string): string {
    const whole = this.parts.length === 0 ? tail : this.parts.join('') + tail;
    this.parts = [];
    this.length = 0;
    return whole;
  }
}

/** JSONL: one item per non-blank line. */
export async function* readJsonLines(
  source: AsyncIterable<Buffer | string>,
  maxItemChars: number,
): AsyncGenerator<RawBatchItem> {
  const pending = new Pieces();
  let line = 0;
  let index = 0;
  for await (const text of decodeText(source)) {
    let from = 0;
    let newline: number;
    while ((newline = text.indexOf('\n', from)) !== -1) {
      line++;
      if (pending.length + newline - from > maxItemChars) throw new BatchItemTooLargeError(line, maxItemChars);
      const trimmed = pending.take(text.slice(from, newline)).trim();
      from = newline + 1;
      if (trimmed) yield { index: index++, line, text: trimmed };
    }
    pending.push(text.slice(from));
    if (pending.length > maxItemChars) throw new BatchItemTooLargeError(line + 1, maxItemChars);
  }
  line++;
  const last = pending.take('').trim();
  if (last) yield { index, line, text: last };
}

type Phase =
  | 'start' // before the top-level `{`
  | 'key-or-end' // inside the envelope: a key or `}`
  | 'key' // reading a key string
  | 'colon'
  | 'value' // a value other than `requests`
  | 'array-start' // expecting `[` of `requests`
  | 'element-or-end' // inside `requests`: an element or `]`
  | 'element'
  | 'after-element' // `,` or `]`
  | 'after-value' // `,` or `}`
  | 'done';

const WS = new Set([' ', '\t', '\n', '\r', '\uFEFF']);

/**
 * JSON `{"requests":[…], "webhook_url":…, …}`: yields each element of `requests` as text; the
 * other members are parsed (they are small) into `envelope` as they come.
 */
export async function* readJsonEnvelope(
  source: AsyncIterable<Buffer | string>,
  envelope: Record<string, unknown>,
  maxItemChars: number,
): AsyncGenerator<RawBatchItem> {
  let phase: Phase = 'start';
  let line = 1;
  let index = 0;
  let key = '';
  let sawRequests = false;
  // Capture of one JSON value (key, element or member value): the part read in earlier chunks is in
  // `captured`, the rest starts at `start` in the current chunk (0 when it began earlier; -1: none).
  const captured = new Pieces();
  let start = -1;
  let startLine = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let primitive = false;

  const fail = (what: string): never => {
    throw new BatchBodyError(`the body is not {"requests": [...]} JSON: ${what} on line ${line}`);
  };

  const beginValue = (at: number, ch: string) => {
    start = at;
    startLine = line;
    depth = 0;
    inString = false;
    escaped = false;
    primitive = false;
    if (ch === '"') inString = true;
    else if (ch === '{' || ch === '[') depth = 1;
    else primitive = true;
  };

  for await (const text of decodeText(source)) {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (start !== -1) {
        // inside a captured value: find where it ends
        let endAt = -1;
        if (inString) {
          if (escaped) escaped = false;
          else if (ch === '\\') escaped = true;
          else if (ch === '"') {
            inString = false;
            if (depth === 0 && !primitive) endAt = i + 1;
          }
        } else if (primitive) {
          if (ch === ',' || ch === '}' || ch === ']' || WS.has(ch)) endAt = i;
        } else if (ch === '"') inString = true;
        else if (ch === '{' || ch === '[') depth++;
        else if (ch === '}' || ch === ']') {
          depth--;
          if (depth === 0) endAt = i + 1;
        }
        if (ch === '\n') line++;
        if (endAt === -1) continue;
        if (captured.length + endAt - start > maxItemChars) throw new BatchItemTooLargeError(startLine, maxItemChars);
        const raw = captured.take(text.slice(start, endAt));
        start = -1;
        if (phase === 'key') {
          key = JSON.parse(raw) as string;
          phase = 'colon';
        } else if (phase === 'element') {
          yield { index: index++, line: startLine, text: raw };
          phase = 'after-element';
        } else {
          try {
            envelope[key] = JSON.parse(raw);
          } catch {
            fail(`the value of "${key}" is not valid JSON`);
          }
          phase = 'after-value';
        }
        // a primitive ends on the delimiter itself: read it again in the new phase (and count its newline then)
        if (endAt === i) {
          if (ch === '\n') line--;
          i--;
        }
        continue;
      }
      if (ch === '\n') line++;
      if (WS.has(ch)) continue;
      switch (phase) {
        case 'start':
          if (ch !== '{') fail('expected "{"');
          phase = 'key-or-end';
          break;
        case 'key-or-end':
          if (ch === '}') phase = 'done';
          else if (ch === '"') {
            phase = 'key';
            beginValue(i, ch);
          } else fail('expected a member name');
          break;
        case 'colon':
          if (ch !== ':') fail('expected ":"');
          if (key === 'requests') {
            if (sawRequests) fail('"requests" appears twice');
            sawRequests = true;
            phase = 'array-start';
          } else phase = 'value';
          break;
        case 'value':
          beginValue(i, ch);
          if (primitive && !/[-0-9tfn]/.test(ch)) fail(`unexpected "${ch}"`);
          break;
        case 'array-start':
          if (ch !== '[') fail('"requests" must be an array');
          phase = 'element-or-end';
          break;
        case 'element-or-end':
          if (ch === ']') {
            phase = 'after-value';
            break;
          }
          phase = 'element';
          beginValue(i, ch);
          break;
        case 'after-element':
          // after ",", the next element starts at its first non-blank character
          if (ch === ',') phase = 'element-or-end';
          else if (ch === ']') phase = 'after-value';
          else fail('expected "," or "]" between requests');
          break;
        case 'after-value':
          if (ch === ',') phase = 'key-or-end';
          else if (ch === '}') phase = 'done';
          else fail('expected "," or "}"');
          break;
        case 'done':
          fail('unexpected content after the closing "}"');
          break;
        default:
          break;
      }
    }
    // keep only the value being captured
    if (start !== -1) {
      captured.push(text.slice(start));
      if (captured.length > maxItemChars) throw new BatchItemTooLargeError(startLine, maxItemChars);
      start = 0;
    }
  }
  if (start !== -1 && primitive && phase === 'value') {
    envelope[key] = JSON.parse(captured.take(''));
    phase = 'after-value';
  }
  if (phase !== 'done') fail(phase === 'start' ? 'the body is empty' : 'it ends before its closing "}"');
  if (!sawRequests) throw new BatchBodyError('the body has no "requests" array');
}
