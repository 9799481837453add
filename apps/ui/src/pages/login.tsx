/** Sign-in: the API key is checked against the API and kept in this tab only (sessionStorage). */
import { useState } from 'preact/hooks';
import { storeKey } from '../api.js';
import { ErrorNote } from '../components/ui.js';
import { probeSession } from '../session.js';

export function LoginPage({ error, onSignedIn }: { error?: Error; onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [failure, setFailure] = useState<Error | undefined>(error);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    storeKey(key.trim());
    try {
      if (await probeSession()) return onSignedIn();
      storeKey(null);
      setFailure(new Error('The API did not accept this key.'));
    } catch (err) {
      storeKey(null);
      setFailure(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="login card" onSubmit={submit}>
      <h1>Kiln</h1>
      <p class="muted">Sign in with an API key. It stays in this browser tab and is sent only to this API.</p>
      <label>
        API key
        <input
          name="api_key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      <ErrorNote error={failure} />
    </form>
  );
}
