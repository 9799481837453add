/** Small building blocks shared by the pages. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { imageBlobUrl } from '../api.js';
import { percent } from '../format.js';

export function ProgressBar({ fraction, label }: { fraction: number; label?: string }) {
  return (
    <div
      class="progress"
      role="progressbar"
      aria-valuenow={Math.round(fraction * 100)}
      aria-valuemin={0}
      aria-valuemax={100}
    >
      <div class="progress-fill" style={{ width: percent(fraction) }} />
      <span class="progress-label">{label ?? percent(fraction)}</span>
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error.message}
    </p>
  ) : null;
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card">
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Stat({ label, value, testId }: { label: string; value: ComponentChildren; testId?: string }) {
  return (
    <div class="stat">
      <div class="stat-value" data-testid={testId}>
        {value}
      </div>
      <div class="stat-label">{label}</div>
    </div>
  );
}

/** An image of a job, fetched with the API key (an `<img src>` could not send it). */
export function JobImageView({ jobId, index, alt }: { jobId: string; index: number; alt: string }) {
  const [src, setSrc] = useState<string | undefined>(undefined);
  const [failed, setFailed] = useState<string | undefined>(undefined);
  useEffect(() => {
    let url: string | undefined;
    let live = true;
    imageBlobUrl(`v1/jobs/${encodeURIComponent(jobId)}/images/${index}`).then(
      (u) => {
        url = u;
        if (live) setSrc(u);
        else URL.revokeObjectURL(u);
      },
      (err: Error) => live && setFailed(err.message),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [jobId, index]);
  if (failed) return <div class="image-missing">{failed}</div>;
  return src ? <img src={src} alt={alt} loading="lazy" /> : <div class="image-loading">loading…</div>;
}
