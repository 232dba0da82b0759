import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, SESSION_GONE } from './api';
import { useRoute } from './router';
import { currentSession, onSessionChange, Session, setSession } from './session';
import { Action, messageOf } from './ui';
import { Login } from './pages/login';
import { Domains } from './pages/domains';
import { DomainPage } from './pages/domain';
import { Credentials } from './pages/credentials';
import { Messages } from './pages/messages';
import { MessagePage } from './pages/message';
import { Mailbox } from './pages/mailbox';
import { Stats } from './pages/stats';
import { Suppressions } from './pages/suppressions';
import { Webhooks } from './pages/webhooks';
import { Lists } from './pages/lists';
import { Templates } from './pages/templates';
import { Campaigns } from './pages/campaigns';
import { Queue } from './pages/queue';
import { AdminUsers, AdminDomains } from './pages/admin';
import './styles.css';

const USER_NAV: [string, string][] = [
  ['domains', 'Domains'],
  ['credentials', 'Credentials'],
  ['messages', 'Messages'],
  ['mailbox', 'Mailbox'],
  ['queue', 'Queue'],
  ['stats', 'Statistics'],
  ['suppressions', 'Suppressions'],
  ['webhooks', 'Webhooks'],
  ['lists', 'Lists'],
  ['templates', 'Templates'],
  ['campaigns', 'Campaigns'],
];
const ADMIN_NAV: [string, string][] = [
  ['users', 'Users'],
  ['all-domains', 'All domains'],
];

function UserPage({ parts }: { parts: string[] }) {
  const [page, id] = parts;
  switch (page) {
    case 'domains':
      // Keyed: another domain's page starts afresh, without the last one's outcome notes.
      return id ? <DomainPage id={Number(id)} key={id} /> : <Domains />;
    case 'credentials':
      return <Credentials />;
    case 'messages':
      return id ? <MessagePage id={id} /> : <Messages />;
    case 'mailbox':
      return <Mailbox id={id ? Number(id) : null} />;
    case 'queue':
      return <Queue />;
    case 'stats':
      return <Stats />;
    case 'suppressions':
      return <Suppressions />;
    case 'webhooks':
      return <Webhooks />;
    case 'lists':
      return <Lists listId={id ? Number(id) : null} />;
    case 'templates':
      return <Templates templateId={id ? Number(id) : null} />;
    case 'campaigns':
      return <Campaigns campaignId={id ? Number(id) : null} />;
    default:
      return <Domains />;
  }
}

function AdminPage({ parts }: { parts: string[] }) {
  return parts[0] === 'all-domains' ? <AdminDomains /> : <AdminUsers />;
}

function Shell({ session }: { session: Session }) {
  const route = useRoute();
  const nav = session.kind === 'admin' ? ADMIN_NAV : USER_NAV;
  const here = route.parts[0] ?? nav[0][0];
  // Forgotten here only once the server has ended the session or no longer knows it (call has then forgotten it
  // already, and the sign-in page says why). A sign-out that failed otherwise (no answer, a 5xx, another refusal)
  // leaves a live session behind: the tab keeps it, so the user can try again, and says so.
  const signOut = async () => {
    try {
      await call(session.kind === 'admin' ? 'admin.logout' : 'user.logout');
      setSession(null, 'You are signed out.');
    } catch (e) {
      if (!(e instanceof ApiError && e.code === SESSION_GONE)) {
        throw new Error(`Could not sign out: the session is still active on the server. Try again. (${messageOf(e)})`, { cause: e });
      }
    }
    location.hash = '';
  };
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/">
          Postern
        </a>
        <nav aria-label="Main">
          {nav.map(([path, label]) => (
            <a key={path} href={`#/${path}`} aria-current={here === path ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class="muted" data-testid="who">
            {session.kind === 'admin' ? 'Admin' : 'User'}: {session.name}
          </span>{' '}
          <Action onRun={signOut} busyLabel="Signing out…" name="sign-out">
            Sign out
          </Action>
        </div>
      </header>
      <main>{session.kind === 'admin' ? <AdminPage parts={route.parts} /> : <UserPage parts={route.parts} />}</main>
    </div>
  );
}

function App() {
  const [session, setState] = useState<Session | null>(currentSession);
  useEffect(() => onSessionChange(() => setState(currentSession())), []);
  return session ? <Shell session={session} key={session.id} /> : <Login />;
}

const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading…" line shown until this script runs
render(<App />, root);
