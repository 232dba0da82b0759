import { useState } from 'preact/hooks';
import { call } from '../api';
import { setSession, takeNotice } from '../session';
import { ErrorNote, Field, Input, messageOf, Notice } from '../ui';

/** Sign in as a user (user.login) or as the admin (admin.login with the AdminAPIKey or username + password). */
export function Login() {
  const [kind, setKind] = useState<'user' | 'admin'>('user');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [adminKey, setAdminKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice] = useState(takeNotice);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (kind === 'user') {
        const r = await call('user.login', { Username: username, Password: password });
        setSession({ id: r.SessionID, kind: 'user', name: r.UserInfo?.Username ?? username });
      } else {
        const params = adminKey.trim() ? { AdminAPIKey: adminKey.trim() } : { Username: username, Password: password };
        const r = await call('admin.login', params);
        setSession({ id: r.SessionID, kind: 'admin', name: r.AdminInfo?.Username ?? 'admin' });
      }
      // The address stays as it was: a link someone pasted (#/queue?q=gmail.com) opens once signed in. It is a
      // fragment of this page, so it cannot lead anywhere else.
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <h1>Postern</h1>
      <p class="muted">Sign in to manage sender domains, keys, messages and statistics.</p>
      {notice ? <Notice>{notice}</Notice> : null}
      <div class="tabs" role="tablist">
        {(['user', 'admin'] as const).map((k) => (
          <button
            type="button"
            role="tab"
            aria-selected={kind === k}
            class={kind === k ? 'tab on' : 'tab'}
            onClick={() => setKind(k)}
            key={k}
            data-action={`login-as-${k}`}
          >
            {k === 'user' ? 'User' : 'Admin'}
          </button>
        ))}
      </div>
      <form onSubmit={submit} class="card">
        {kind === 'admin' ? (
          <Field label="AdminAPIKey" hint="Printed once when Postern first started. Or leave it empty and use the admin username and password.">
            <Input name="adminapikey" type="password" autocomplete="off" value={adminKey} onValue={setAdminKey} />
          </Field>
        ) : null}
        <Field label="Username">
          <Input name="username" autocomplete="username" value={username} onValue={setUsername} />
        </Field>
        <Field label="Password">
          <Input name="password" type="password" autocomplete="current-password" value={password} onValue={setPassword} />
        </Field>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
