/** How numbers and times read on the dashboard. */

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function duration(seconds: number): string {
  if (seconds < 1) return `${seconds.toFixed(2)} s`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function percent(fraction: number): string {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** A job's progress as a fraction: images done plus the current image's steps. */
export function jobFraction(p: { step: number; total_steps: number; images_done: number; num_images: number }): number {
  if (p.num_images === 0) return 0;
  const current = p.total_steps > 0 ? p.step / p.total_steps : 0;
  return Math.min(1, (p.images_done + (p.images_done < p.num_images ? current : 0)) / p.num_images);
}
