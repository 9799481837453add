/** The caller's batches, newest first, with live progress. */
import { api } from '../api.js';
import { ErrorNote, ProgressBar, StatusBadge } from '../components/ui.js';
import { ago } from '../format.js';
import { usePoll } from '../hooks.js';
import type { Batch } from '../types.js';

export function BatchesPage() {
  const batches = usePoll('batches', () => api<{ batches: Batch[] }>('v1/batches?limit=50'), 1000);
  const list = batches.data?.batches;
  return (
    <div class="page">
      <h1>Batches</h1>
      <ErrorNote error={batches.error} />
      {!list && <p class="muted">loading…</p>}
      {list?.length === 0 && (
        <p class="muted" data-testid="no-batches">
          No batches. Submit one with <code>POST /v1/batches</code> or <code>npx kiln batch</code>.
        </p>
      )}
      {list && list.length > 0 && (
        <table class="table" data-testid="batches">
          <thead>
            <tr>
              <th>batch</th>
              <th>status</th>
              <th>progress</th>
              <th>completed</th>
              <th>failed</th>
              <th>canceled</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {list.map((b) => (
              <tr key={b.id} data-batch={b.id}>
                <td class="mono">
                  <a href={`#/batches/${encodeURIComponent(b.id)}`}>{b.id}</a>
                </td>
                <td>
                  <StatusBadge status={b.status} />
                </td>
                <td>
                  <ProgressBar
                    fraction={b.progress.total ? b.progress.done / b.progress.total : 1}
                    label={`${b.progress.done}/${b.progress.total}`}
                  />
                </td>
                <td>{b.counts.completed ?? 0}</td>
                <td>{b.counts.failed ?? 0}</td>
                <td>{b.counts.canceled ?? 0}</td>
                <td>{ago(b.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
