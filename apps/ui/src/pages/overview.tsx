/** At a glance: the fleet's queue health and backlog (operators), and the caller's own recent work. */
import { api } from '../api.js';
import { Card, ErrorNote, Stat } from '../components/ui.js';
import { duration } from '../format.js';
import { usePoll } from '../hooks.js';
import type { FleetAccess } from '../session.js';
import type { Batch, JobList, QueueHealth, Readiness } from '../types.js';

const POLL_MS = 2000;
const OWN_WORK_POLL_MS = 5000;

export function OverviewPage({ fleet }: { fleet: FleetAccess }) {
  return (
    <div class="page">
      <h1>Overview</h1>
      {fleet === 'operator' && <FleetHealth />}
      {fleet === 'unavailable' && (
        <p class="muted">This API does not serve the fleet view (GET /v1/queue); showing your own work only.</p>
      )}
      <OwnWork />
    </div>
  );
}

function FleetHealth() {
  const queue = usePoll('queue', () => api<QueueHealth>('v1/queue'), POLL_MS);
  const ready = usePoll(
    'readyz',
    () => api<Readiness>('readyz').catch((err: Error) => ({ status: err.message, redis: false, workers: 0 })),
    POLL_MS,
  );
  const lanes = queue.data?.lanes ?? [];
  const backlog = lanes.reduce((sum, l) => sum + l.backlog_worker_seconds, 0);
  const waiting = lanes.reduce((sum, l) => sum + l.waiting + l.prioritized + l.delayed, 0);
  const active = lanes.reduce((sum, l) => sum + l.active, 0);
  return (
    <Card title="Queue health">
      <ErrorNote error={queue.error} />
      <div class="stats">
        <Stat label="ready" value={ready.data ? (ready.data.status === 'ready' ? 'yes' : 'no') : '…'} testId="ready" />
        <Stat
          label="workers alive / busy"
          value={queue.data ? `${queue.data.workers.alive} / ${queue.data.workers.busy}` : '…'}
          testId="workers-alive"
        />
        <Stat label="jobs waiting" value={queue.data ? waiting : '…'} testId="jobs-waiting" />
        <Stat label="jobs running" value={queue.data ? active : '…'} />
        <Stat label="backlog (worker time)" value={queue.data ? duration(backlog) : '…'} testId="backlog" />
      </div>
      <table class="table" data-testid="lanes">
        <thead>
          <tr>
            <th>family</th>
            <th>lane</th>
            <th>waiting</th>
            <th>prioritized</th>
            <th>delayed</th>
            <th>active</th>
            <th>backlog (work units)</th>
            <th>backlog (worker time)</th>
          </tr>
        </thead>
        <tbody>
          {lanes.map((l) => (
            <tr key={`${l.family}/${l.lane}`}>
              <td>{l.family}</td>
              <td>{l.lane}</td>
              <td>{l.waiting}</td>
              <td>{l.prioritized}</td>
              <td>{l.delayed}</td>
              <td>{l.active}</td>
              <td>{l.backlog_work_units.toFixed(2)}</td>
              <td>{duration(l.backlog_worker_seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(queue.data?.throughput.length ?? 0) > 0 && (
        <>
          <h2 class="subhead">Measured throughput (one worker)</h2>
          <table class="table" data-testid="throughput">
            <thead>
              <tr>
                <th>family</th>
                <th>model</th>
                <th>provider</th>
                <th>work units / s</th>
                <th>jobs measured</th>
              </tr>
            </thead>
            <tbody>
              {queue.data?.throughput.map((t) => (
                <tr key={`${t.family}/${t.model}/${t.execution_provider}`}>
                  <td>{t.family}</td>
                  <td>{t.model}</td>
                  <td>{t.execution_provider}</td>
                  <td>{t.units_per_second.toFixed(2)}</td>
                  <td>{t.samples}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

function OwnWork() {
  // 200 job documents are a heavier read than the queue's counters: less often
  const jobs = usePoll('own-jobs', () => api<JobList>('v1/jobs?limit=200'), OWN_WORK_POLL_MS);
  const batches = usePoll('own-batches', () => api<{ batches: Batch[] }>('v1/batches?limit=5'), OWN_WORK_POLL_MS);
  const counts = new Map<string, number>();
  for (const job of jobs.data?.jobs ?? []) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  return (
    <Card title="Your recent work">
      <ErrorNote error={jobs.error ?? batches.error} />
      <div class="stats">
        {(['queued', 'running', 'completed', 'failed', 'canceled'] as const).map((status) => (
          <Stat label={status} value={jobs.data ? (counts.get(status) ?? 0) : '…'} testId={`own-${status}`} />
        ))}
      </div>
      <p class="muted">
        The latest 200 jobs; see <a href="#/jobs">Jobs</a>. Latest batches:{' '}
        {(batches.data?.batches ?? []).map((b) => (
          <a href={`#/batches/${encodeURIComponent(b.id)}`} class="chip">
            {b.id.slice(0, 8)} · {b.progress.done}/{b.progress.total}
          </a>
        ))}
        {batches.data?.batches.length === 0 && 'none yet.'}
      </p>
    </Card>
  );
}
