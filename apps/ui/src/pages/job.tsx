/** One job: live progress until it ends, then its images with their seeds and the parameters it ran with. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Card, ErrorNote, JobImageView, ProgressBar, StatusBadge } from '../components/ui.js';
import { ago, jobFraction } from '../format.js';
import { usePoll } from '../hooks.js';
import type { Job } from '../types.js';
import { progressLabel } from './jobs.js';

const ENDED = ['completed', 'failed', 'canceled'];

export function JobPage({ id }: { id: string }) {
  const path = `v1/jobs/${encodeURIComponent(id)}`;
  const job = usePoll(
    path,
    () => api<Job>(path),
    500,
    (j) => ENDED.includes(j.status),
  );
  const [cancelError, setCancelError] = useState<Error | undefined>(undefined);
  const cancel = () => api(`${path}/cancel`, { method: 'POST' }).then(job.refresh, setCancelError);
  const j = job.data;
  return (
    <div class="page">
      <h1>
        Job <span class="mono">{id}</span>
      </h1>
      <ErrorNote error={job.error ?? cancelError} />
      {j && (
        <>
          <Card title="Status">
            <p>
              <StatusBadge status={j.status} /> <span data-testid="job-status">{j.status}</span> · {j.family} · created{' '}
              {ago(j.created_at)}
              {j.prediction_time_ms !== null && ` · rendered in ${(j.prediction_time_ms / 1000).toFixed(2)} s`}
              {j.batch_id && (
                <>
                  {' '}
                  · batch <a href={`#/batches/${encodeURIComponent(j.batch_id)}`}>{j.batch_id.slice(0, 8)}</a>
                </>
              )}
            </p>
            <ProgressBar fraction={jobFraction(j.progress)} label={progressLabel(j)} />
            {j.error && (
              <p class="error">
                {j.error.code}: {j.error.message}
                {j.error.field && ` (field ${j.error.field})`}
              </p>
            )}
            {(j.status === 'queued' || j.status === 'running') && !j.cancel_requested && (
              <button type="button" onClick={cancel}>
                Cancel
              </button>
            )}
          </Card>
          <Card title="Images">
            <div class="gallery" data-testid="job-images">
              {j.images.map((img) => (
                <figure data-seed={img.seed}>
                  {img.url ? (
                    <JobImageView jobId={j.id} index={img.index} alt={`seed ${img.seed}`} />
                  ) : (
                    <div class="image-missing">removed for safety</div>
                  )}
                  <figcaption>seed {img.seed}</figcaption>
                </figure>
              ))}
              {j.images.length === 0 && <p class="muted">Seeds {j.seeds.join(', ')}: not rendered yet.</p>}
            </div>
          </Card>
          {j.parameters && (
            <Card title="Parameters">
              <ParameterTable parameters={j.parameters} />
            </Card>
          )}
        </>
      )}
    </div>
  );
}

export function ParameterTable({ parameters }: { parameters: Record<string, unknown> }) {
  return (
    <table class="table params" data-testid="parameters">
      <tbody>
        {Object.entries(parameters).map(([name, value]) => (
          <tr>
            <th>{name}</th>
            <td class="mono">{typeof value === 'string' ? value : JSON.stringify(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
