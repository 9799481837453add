/** The caller's jobs, newest first, with live progress. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, ProgressBar, StatusBadge } from '../components/ui.js';
import { ago, jobFraction } from '../format.js';
import { usePoll } from '../hooks.js';
import type { Job, JobList } from '../types.js';

const STATUSES = ['', 'queued', 'running', 'completed', 'failed', 'canceled'];

export function JobsPage() {
  const [status, setStatus] = useState('');
  const query = `v1/jobs?limit=50${status ? `&status=${status}` : ''}`;
  const jobs = usePoll(query, () => api<JobList>(query), 1000);
  return (
    <div class="page">
      <h1>Jobs</h1>
      <label class="inline">
        Status{' '}
        <select name="status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          {STATUSES.map((s) => (
            <option value={s}>{s || 'any'}</option>
          ))}
        </select>
      </label>
      <ErrorNote error={jobs.error} />
      <JobTable jobs={jobs.data?.jobs} />
    </div>
  );
}

export function JobTable({ jobs }: { jobs: Job[] | undefined }) {
  if (!jobs) return <p class="muted">loading…</p>;
  if (jobs.length === 0)
    return (
      <p class="muted" data-testid="no-jobs">
        No jobs.
      </p>
    );
  return (
    <table class="table" data-testid="jobs">
      <thead>
        <tr>
          <th>job</th>
          <th>status</th>
          <th>progress</th>
          <th>engine</th>
          <th>images</th>
          <th>batch</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <tr key={job.id} data-job={job.id}>
            <td class="mono">
              <a href={`#/jobs/${encodeURIComponent(job.id)}`}>{job.custom_id ?? job.id.slice(0, 12)}</a>
            </td>
            <td>
              <StatusBadge status={job.status} />
            </td>
            <td>
              <ProgressBar fraction={jobFraction(job.progress)} label={progressLabel(job)} />
            </td>
            <td>{job.family}</td>
            <td>{job.progress.num_images}</td>
            <td class="mono">
              {job.batch_id ? (
                <a href={`#/batches/${encodeURIComponent(job.batch_id)}`}>{job.batch_id.slice(0, 8)}</a>
              ) : (
                '—'
              )}
            </td>
            <td>{ago(job.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function progressLabel(job: Job): string {
  const p = job.progress;
  if (job.status === 'queued') return job.queue_position === null ? 'queued' : `queued · ${job.queue_position} ahead`;
  if (job.status === 'running') {
    if (p.stage === 'loading_assets') return 'loading assets';
    return `image ${Math.min(p.images_done + 1, p.num_images)}/${p.num_images} · step ${p.step}/${p.total_steps}`;
  }
  return job.status;
}
