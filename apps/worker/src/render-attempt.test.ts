import type { RenderJob } from '@kiln/queue';
import { describe, expect, it } from 'vitest';
import { attemptsSpent } from './render-attempt.js';

/** What BullMQ stores on a job at a pick-up: its budget, pick-ups so far (this one included), worker deaths. */
const pickUp = (attempts: number | undefined, attemptsStarted: number, stalledCounter: number) =>
  ({ opts: attempts === undefined ? {} : { attempts }, attemptsStarted, stalledCounter }) as unknown as RenderJob;

describe('attemptsSpent', () => {
  it('lets every pick-up within the budget run, whatever ended the earlier ones', () => {
    expect(attemptsSpent(pickUp(3, 1, 0))).toBeUndefined();
    expect(attemptsSpent(pickUp(3, 3, 2))).toBeUndefined(); // two workers died: the third attempt runs
  });

  it('fails the pick-up after the last attempt, naming the deaths among them', () => {
    expect(attemptsSpent(pickUp(3, 4, 3))).toEqual({
      code: 'internal_error',
      message:
        'the job was not retried again after 3 attempts: the worker rendering it stopped ' +
        '(killed, crashed or out of memory) during 3 of them',
    });
    // One death and two failures with retries left by BullMQ's count: deaths and failures share the budget.
    expect(attemptsSpent(pickUp(3, 4, 1))?.message).toMatch(/during 1 of them$/);
  });

  it('reads a job without an attempts option as one attempt, as BullMQ does', () => {
    expect(attemptsSpent(pickUp(undefined, 1, 0))).toBeUndefined();
    expect(attemptsSpent(pickUp(undefined, 2, 1))?.code).toBe('internal_error');
  });
});
