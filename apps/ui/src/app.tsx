/** The shell: sign-in, navigation by role, and the page the hash route names. */
import { useEffect, useState } from 'preact/hooks';
import { api, storeKey } from './api.js';
import { ErrorNote } from './components/ui.js';
import { navigate, useRoute } from './hooks.js';
import { BatchGalleryPage } from './pages/batch-gallery.js';
import { BatchesPage } from './pages/batches.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { LoginPage } from './pages/login.js';
import { OverviewPage } from './pages/overview.js';
import { TryPage } from './pages/try.js';
import { WorkersPage } from './pages/workers.js';
import { probeSession, type Session } from './session.js';

type State = { phase: 'checking' } | { phase: 'login'; error?: Error } | { phase: 'in'; session: Session };

export function App() {
  const [state, setState] = useState<State>({ phase: 'checking' });
  const route = useRoute();

  const check = () => {
    setState({ phase: 'checking' });
    probeSession().then(
      (session) => setState(session ? { phase: 'in', session } : { phase: 'login' }),
      (error: Error) => setState({ phase: 'login', error }),
    );
  };
  useEffect(check, []);

  if (state.phase === 'checking') return <p class="muted">Connecting…</p>;
  if (state.phase === 'login') return <LoginPage error={state.error} onSignedIn={check} />;

  const { session } = state;
  const operator = session.fleet === 'operator';
  const signOut = () => {
    storeKey(null);
    navigate('');
    check();
  };
  const [page = 'overview', id] = route;
  const links: [string, string, boolean][] = [
    ['overview', 'Overview', true],
    ['workers', 'Workers', operator],
    ['jobs', 'Jobs', true],
    ['batches', 'Batches', true],
    ['try', 'Try a prompt', true],
  ];

  return (
    <div class="shell">
      <header class="topbar">
        <span class="brand">Kiln</span>
        <nav>
          {links
            .filter(([, , shown]) => shown)
            .map(([path, label]) => (
              <a href={`#/${path}`} class={page === path ? 'active' : ''} data-nav={path}>
                {label}
              </a>
            ))}
          {operator && (
            <a href="queues/" data-nav="queues" onClick={openQueueBoard}>
              Queues
            </a>
          )}
        </nav>
        <span class="who" data-testid="role">
          {operator ? 'operator' : 'tenant'}
          {session.localMode && ' · local mode'}
        </span>
        {!session.localMode && (
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main>{pageFor(page, id, session)}</main>
    </div>
  );
}

/**
 * bull-board's read-only view of the queue (/ui/queues): a browser opening a page cannot send the
 * key, so the key is traded for a short-lived cookie scoped to that path first.
 */
function openQueueBoard(event: Event) {
  event.preventDefault();
  api('v1/ui/queue-board-session', { method: 'POST' }).then(
    () => location.assign(new URL('queues/', location.href).href),
    (err: Error) => alert(`The queue board is not available: ${err.message}`),
  );
}

function pageFor(page: string, id: string | undefined, session: Session) {
  switch (page) {
    case 'overview':
      return <OverviewPage fleet={session.fleet} />;
    case 'workers':
      return <WorkersPage fleet={session.fleet} />;
    case 'jobs':
      return id ? <JobPage id={id} /> : <JobsPage />;
    case 'batches':
      return id ? <BatchGalleryPage id={id} /> : <BatchesPage />;
    case 'try':
      return <TryPage />;
    default:
      return <ErrorNote error={new Error(`no page ${page}`)} />;
  }
}
