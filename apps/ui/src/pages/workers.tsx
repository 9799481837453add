/** The fleet (operators): every worker that is heartbeating, what it runs and how busy it is. */
import { api } from '../api.js';
import { ErrorNote, ProgressBar } from '../components/ui.js';
import { ago } from '../format.js';
import { usePoll } from '../hooks.js';
import type { FleetAccess } from '../session.js';
import type { Worker } from '../types.js';

export function WorkersPage({ fleet }: { fleet: FleetAccess }) {
  if (fleet !== 'operator') {
    return (
      <div class="page">
        <h1>Workers</h1>
        <p class="error" role="alert">
          The fleet is shown to operators only.
        </p>
      </div>
    );
  }
  return <WorkerTable />;
}

function WorkerTable() {
  const workers = usePoll('workers', () => api<{ workers: Worker[] }>('v1/workers'), 2000);
  const list = workers.data?.workers ?? [];
  return (
    <div class="page">
      <h1>Workers</h1>
      <ErrorNote error={workers.error} />
      <p class="muted" data-testid="worker-count">
        {workers.data ? `${list.length} worker${list.length === 1 ? '' : 's'} heartbeating` : 'loading…'}
      </p>
      <table class="table" data-testid="workers">
        <thead>
          <tr>
            <th>worker</th>
            <th>host</th>
            <th>families</th>
            <th>models loaded</th>
            <th>provider</th>
            <th>versions</th>
            <th>current job</th>
            <th>busy</th>
            <th>started</th>
            <th>heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {list.map((w) => (
            <tr key={w.id} data-worker={w.id}>
              <td class="mono">{w.id}</td>
              <td>{w.host}</td>
              <td>{w.families.join(', ')}</td>
              <td>{w.models_loaded.join(', ') || '—'}</td>
              <td>{w.execution_provider}</td>
              <td class="small">
                {Object.entries(w.versions)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(' · ')}
              </td>
              <td class="mono">{w.current_job ?? 'idle'}</td>
              <td>
                <ProgressBar fraction={w.busy_ratio} />
              </td>
              <td>{ago(w.started_at)}</td>
              <td>{ago(w.last_heartbeat_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
