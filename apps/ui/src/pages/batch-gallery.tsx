/** A batch's images as they arrive: each with its item's custom_id, its seed and the parameters it ran with. */
import { api, apiLines } from '../api.js';
import { Card, ErrorNote, JobImageView, ProgressBar, StatusBadge } from '../components/ui.js';
import { usePoll } from '../hooks.js';
import type { Batch, Job, JobList } from '../types.js';

/** A gallery shows at most this many items (GET /v1/jobs pages of 200); the results file has them all. */
const MAX_ITEMS = 1000;
const ENDED = ['completed', 'canceled'];

/** A results line (GET /v1/batches/{id}/results): one per uploaded item, in upload order. */
interface ResultLine {
  custom_id: string;
  index: number;
  job_id: string | null;
  status: string;
  images?: { index: number; seed: number; url: string | null }[];
}

interface GalleryItem {
  line: ResultLine;
  /** The item's job, for its images and parameters (absent for a refused item). */
  job?: Job;
}

async function batchJobs(id: string): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  do {
    const page: JobList = await api<JobList>(
      `v1/jobs?batch_id=${encodeURIComponent(id)}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    jobs.push(...page.jobs);
    cursor = page.next_cursor;
  } while (cursor && jobs.length < MAX_ITEMS);
  return jobs;
}

/** The batch's items in upload order (its results file), each with its job document. */
async function galleryItems(id: string): Promise<GalleryItem[]> {
  const [lines, jobs] = await Promise.all([
    apiLines<ResultLine>(`v1/batches/${encodeURIComponent(id)}/results`, MAX_ITEMS),
    batchJobs(id),
  ]);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return lines.map((line) => ({ line, job: line.job_id ? byId.get(line.job_id) : undefined }));
}

/** The few parameters that tell images of one batch apart, in one line. */
function summary(p: Record<string, unknown> | undefined): string {
  if (!p) return '';
  const parts = [
    p.width && p.height ? `${String(p.width)}×${String(p.height)}` : '',
    p.sampler ? String(p.sampler) : '',
    p.steps !== undefined ? `${String(p.steps)} steps` : '',
    p.cfg_scale !== undefined ? `cfg ${String(p.cfg_scale)}` : '',
  ];
  return parts.filter(Boolean).join(' · ');
}

export function BatchGalleryPage({ id }: { id: string }) {
  const path = `v1/batches/${encodeURIComponent(id)}`;
  const batch = usePoll(
    path,
    () => api<Batch>(path),
    1000,
    (b) => ENDED.includes(b.status),
  );
  const settled = batch.data !== undefined && ENDED.includes(batch.data.status);
  // Polls the items until the batch has ended; one last read after that catches the final images.
  const items = usePoll(
    `${path}/items:${settled}`,
    () => galleryItems(id),
    2000,
    () => settled,
  );
  const b = batch.data;
  return (
    <div class="page">
      <h1>
        Batch <span class="mono">{id}</span>
      </h1>
      <ErrorNote error={batch.error ?? items.error} />
      {b && (
        <Card title="Progress">
          <p>
            <StatusBadge status={b.status} /> <span data-testid="batch-status">{b.status}</span> ·{' '}
            {Object.entries(b.counts)
              .filter(([, n]) => n > 0)
              .map(([k, n]) => `${n} ${k}`)
              .join(' · ')}
          </p>
          <ProgressBar
            fraction={b.progress.total ? b.progress.done / b.progress.total : 1}
            label={`${b.progress.done}/${b.progress.total} items`}
          />
        </Card>
      )}
      <Card title="Gallery">
        <div class="gallery" data-testid="batch-gallery">
          {(items.data ?? []).flatMap(({ line, job }) =>
            (job?.images ?? line.images ?? []).map((img) => (
              <figure data-seed={img.seed} data-custom-id={line.custom_id}>
                <a href={line.job_id ? `#/jobs/${encodeURIComponent(line.job_id)}` : undefined}>
                  {img.url && line.job_id ? (
                    <JobImageView jobId={line.job_id} index={img.index} alt={`${line.custom_id} seed ${img.seed}`} />
                  ) : (
                    <div class="image-missing">removed for safety</div>
                  )}
                </a>
                <figcaption>
                  <strong>{line.custom_id}</strong> · seed <span class="seed">{img.seed}</span>
                  <br />
                  <span class="small">{summary(job?.parameters)}</span>
                  {typeof job?.parameters?.prompt === 'string' && (
                    <span class="small prompt">{job.parameters.prompt}</span>
                  )}
                </figcaption>
              </figure>
            )),
          )}
        </div>
        {items.data && (
          <p class="muted">
            {items.data.filter((i) => i.line.status !== 'completed').length} item(s) not completed (yet).
            {items.data.length >= MAX_ITEMS && ` Showing the first ${MAX_ITEMS} items; the results file has them all.`}
          </p>
        )}
      </Card>
    </div>
  );
}
