/** The dashboard's live data: polling hooks and the hash route. */
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Fetch again now (after an action such as a cancel). */
  refresh(): void;
}

/**
 * Calls `load` now and every `intervalMs` while the page shows it, and again when `key` changes.
 * Polling stops once `settled(data)` says nothing will change any more (a finished job). Polling,
 * not server-sent events: every number shown comes from the same documented GET a script would use.
 */
export function usePoll<T>(
  key: string,
  load: () => Promise<T>,
  intervalMs: number,
  settled: (data: T) => boolean = () => false,
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, [key]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      let done = false;
      try {
        const value = await loadRef.current();
        if (stopped) return;
        setData(value);
        setError(undefined);
        done = settled(value);
      } catch (err) {
        if (stopped) return;
        setError(err as Error);
      }
      if (!stopped && !done) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
    // `load` is a new closure every render: `key` names what it loads, and the latest closure is in loadRef.
  }, [key, tick, intervalMs]);

  return { data, error, refresh: () => setTick((t) => t + 1) };
}

/** The route is the URL's hash (`#/jobs/<id>`), so the server has one page to serve and reloads keep the view. */
export function useRoute(): string[] {
  const parse = () =>
    location.hash
      .replace(/^#\/?/, '')
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const onChange = () => setRoute(parse());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function navigate(path: string): void {
  location.hash = `#/${path}`;
}
