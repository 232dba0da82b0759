import { useState } from 'preact/hooks';
import { call } from '../api';
import {
  Action,
  ConfirmAction,
  Field,
  Input,
  LoadState,
  PageTitle,
  Pager,
  SaveNote,
  SaveNoteView,
  SearchForm,
  StatusBadge,
  time,
  useLoad,
  useSaveNote,
} from '../ui';
import { NUMBER, usePagedSearch } from '../url-state';

interface User {
  UserID: number;
  Username: string;
  EmailAddress: string;
  FirstName: string;
  AccountStatus: string;
  LimitEmailGatewaySenderDomains: string;
  LimitEmailSendPerPeriod: string;
  LimitEmailSendPerDay: string;
  CreatedAt: string;
}

const SIZE = 25;

/**
 * A limit as typed: a whole number of at least 0 (0 = no limit). An empty or unreadable box is refused, not sent:
 * Number('') is 0, which would have saved "no limit" without a word.
 */
function limitValue(label: string, typed: string | number): number {
  const s = String(typed).trim();
  if (!/^\d{1,10}$/.test(s)) throw new Error(`${label}: enter a whole number (0 = no limit)`);
  return Number(s);
}

const NEW_USER = { Username: '', Password: '', EmailAddress: '', FirstName: '', LimitEmailGatewaySenderDomains: '10' };

function CreateUser({ onCreated }: { onCreated: () => Promise<void> }) {
  const [f, setF] = useState(NEW_USER);
  const done = useSaveNote();
  const set = (k: keyof typeof f) => done.edit((v: string) => setF({ ...f, [k]: v }));
  const create = async () => {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const shown = await done.run(async () => {
      await call('user.create', {
        RelUserGroupID: 1,
        Username: f.Username.trim(),
        Password: f.Password,
        EmailAddress: f.EmailAddress.trim(),
        FirstName: f.FirstName.trim() || f.Username.trim(),
        TimeZone: tz,
        Language: 'en',
        LimitEmailGatewaySenderDomains: limitValue('Sender domains allowed', f.LimitEmailGatewaySenderDomains),
      });
      return `Created ${f.Username.trim()}. They sign in with that username and password.`;
    });
    // Emptied for the next user, unless an edit came while it was created: that edit is kept (and no note shown).
    if (shown) setF(NEW_USER);
    await onCreated();
  };
  return (
    <form class="card" noValidate onSubmit={(e) => e.preventDefault()}>
      <h2>Create a user</h2>
      <div class="row wrap-row">
        <Field label="Username">
          <Input name="new-username" autocomplete="off" value={f.Username} onValue={set('Username')} />
        </Field>
        <Field label="Password" hint="At least 8 characters.">
          <Input name="new-password" type="password" autocomplete="new-password" value={f.Password} onValue={set('Password')} />
        </Field>
        <Field label="Email">
          <Input name="new-email" type="email" value={f.EmailAddress} onValue={set('EmailAddress')} />
        </Field>
        <Field label="First name">
          <Input name="new-firstname" value={f.FirstName} onValue={set('FirstName')} />
        </Field>
        <Field label="Sender domains allowed">
          <Input name="new-domain-limit" type="number" min="0" value={f.LimitEmailGatewaySenderDomains} onValue={set('LimitEmailGatewaySenderDomains')} />
        </Field>
      </div>
      <Action kind="primary" onRun={create} busyLabel="Creating…" name="create-user" submit>
        Create user
      </Action>
      <SaveNoteView note={done} />
    </form>
  );
}

/** `saved` is kept by the row: the form is made anew from the saved values when a save changes them. */
function Limits({ u, saved, onSaved }: { u: User; saved: SaveNote; onSaved: () => Promise<void> }) {
  const [domains, setDomains] = useState(u.LimitEmailGatewaySenderDomains);
  const [month, setMonth] = useState(u.LimitEmailSendPerPeriod);
  const [day, setDay] = useState(u.LimitEmailSendPerDay);
  const save = async () => {
    await saved.run(async () => {
      const typed = {
        LimitEmailGatewaySenderDomains: limitValue('Sender domains', domains),
        LimitEmailSendPerPeriod: limitValue('Per month', month),
        LimitEmailSendPerDay: limitValue('Per day', day),
      };
      // Only what changed: a save does not write back values another admin changed meanwhile.
      const was = {
        LimitEmailGatewaySenderDomains: u.LimitEmailGatewaySenderDomains,
        LimitEmailSendPerPeriod: u.LimitEmailSendPerPeriod,
        LimitEmailSendPerDay: u.LimitEmailSendPerDay,
      };
      const changed = Object.fromEntries(Object.entries(typed).filter(([k, v]) => Number(was[k as keyof typeof was]) !== v));
      if (!Object.keys(changed).length) return 'No change to save.';
      await call('user.update', { UserID: u.UserID, ...changed });
      return 'Saved.';
    });
    await onSaved();
  };
  return (
    // A form of its own per row, so Enter in one of its boxes saves that row's limits (Save is its submit button).
    <form class="limits" noValidate onSubmit={(e) => e.preventDefault()}>
      <Input aria-label="Sender domains" title="Sender domains" type="number" min="0" value={domains} onValue={saved.edit(setDomains)} />
      <Input aria-label="Per month (0 = no limit)" title="Per month (0 = no limit)" type="number" min="0" value={month} onValue={saved.edit(setMonth)} />
      <Input aria-label="Per day (0 = no limit)" title="Per day (0 = no limit)" type="number" min="0" value={day} onValue={saved.edit(setDay)} />
      <Action busyLabel="Saving…" name="save-limits" submit onRun={save}>
        Save
      </Action>
      <SaveNoteView note={saved} />
    </form>
  );
}

/** A row's limits with the note of its last save, which outlives the form's renewal after the save. */
function RowLimits({ u, onSaved }: { u: User; onSaved: () => Promise<void> }) {
  const saved = useSaveNote();
  return (
    <Limits
      u={u}
      saved={saved}
      onSaved={onSaved}
      key={`${u.UserID}-${u.LimitEmailSendPerDay}-${u.LimitEmailSendPerPeriod}-${u.LimitEmailGatewaySenderDomains}`}
    />
  );
}

/** Admin: every user, creating one, enabling or disabling, and sending limits. */
export function AdminUsers() {
  const search = usePagedSearch(SIZE);
  const { from, setFrom, term: applied } = search;
  const load = useLoad(() => call('users.get', { RecordsPerRequest: SIZE, RecordsFrom: from, ...(applied ? { Search: applied } : {}) }), [from, applied]);
  return (
    <section>
      <PageTitle>Users</PageTitle>
      <CreateUser onCreated={load.reload} />
      <SearchForm label="Search users" name="user-search" search={search} />
      <LoadState load={load}>
        {(r) => (
          <>
            <table class="grid" data-testid="users">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Status</th>
                  <th>Limits: domains / month / day</th>
                  <th>Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {(r.Users as User[]).map((u) => (
                  <tr key={u.UserID} data-user={u.Username}>
                    <td data-label="User" class="wrap">
                      <strong>{u.Username}</strong>
                      <div class="hint">{u.EmailAddress}</div>
                      <a href={`#/all-domains?user=${u.UserID}`}>Domains</a>
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={u.AccountStatus} />
                    </td>
                    <td data-label="Limits">
                      <RowLimits u={u} onSaved={load.reload} />
                    </td>
                    <td data-label="Created">{time(u.CreatedAt)}</td>
                    <td>
                      <Action
                        kind={u.AccountStatus === 'Enabled' ? 'danger' : 'plain'}
                        busyLabel="Saving…"
                        name="toggle-user"
                        onRun={async () => {
                          await call('user.update', { UserID: u.UserID, AccountStatus: u.AccountStatus === 'Enabled' ? 'Disabled' : 'Enabled' });
                          await load.reload();
                        }}
                      >
                        {u.AccountStatus === 'Enabled' ? 'Disable' : 'Enable'}
                      </Action>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager from={from} size={SIZE} total={r.TotalUserCount} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

interface AnyDomain {
  DomainID: number;
  SenderDomain: string;
  Status: string;
  UserID: number;
  Username: string;
  CreatedAt: string;
  LastVerifiedAt: string | null;
  /** When a deletion of it (or of its account) began that did not finish; null otherwise. */
  DeletionStartedAt?: string | null;
}

/** getalldomains' Status values; '' lists every status. */
const DOMAIN_STATUSES = ['Enabled', 'Approval Pending', 'Disabled', 'Suspended'];

/**
 * Suspend a domain (its new mail is refused) or lift its suspension, after asking (emailgateway.setdomainstatus).
 * Lifting answers Enabled or, if its records have not passed, Approval Pending: the page's note says the reply's status.
 */
function SuspendAction({ d, onChange }: { d: AnyDomain; onChange: (change: () => Promise<string>) => Promise<void> }) {
  const suspended = d.Status === 'Suspended';
  return (
    <ConfirmAction
      kind={suspended ? 'plain' : 'danger'}
      name={suspended ? 'lift' : 'suspend'}
      question={
        suspended
          ? `Lift the suspension of ${d.SenderDomain}? Its held mail goes out, and it sends again if its DNS records passed their last check.`
          : `Suspend ${d.SenderDomain}? Its new mail is refused and its queued mail held until you lift it.`
      }
      confirmLabel={suspended ? 'Yes, lift it' : 'Yes, suspend'}
      busyLabel={suspended ? 'Lifting…' : 'Suspending…'}
      onRun={() =>
        onChange(async () => {
          const r = await call('emailgateway.setdomainstatus', { DomainID: d.DomainID, Status: suspended ? 'Enabled' : 'Suspended' });
          return r.Changed ? `${d.SenderDomain} is now ${r.Status}.` : `${d.SenderDomain} was already ${r.Status}.`;
        })
      }
    >
      {suspended ? 'Lift suspension' : 'Suspend'}
    </ConfirmAction>
  );
}

/** Admin: every user's sender domains (emailgateway.getalldomains). */
export function AdminDomains() {
  const search = usePagedSearch(SIZE, { status: ['', ...DOMAIN_STATUSES], user: NUMBER });
  const { from, setFrom, term: applied } = search;
  const userId = Number(search.applied.user) || undefined;
  const status = search.applied.status;
  // The last change's note: a later change drops it as it starts, so a failed one shows only its error (in its row).
  const done = useSaveNote();
  const load = useLoad(
    () =>
      call('emailgateway.getalldomains', {
        RecordsPerRequest: SIZE,
        RecordsFrom: from,
        ...(userId ? { UserID: userId } : {}),
        ...(applied ? { Search: applied } : {}),
        ...(status ? { Status: status } : {}),
      }),
    [from, applied, userId, status],
  );
  const change = async (run: () => Promise<string>) => {
    await done.run(run);
    await load.reload();
  };
  return (
    <section>
      <PageTitle>All domains</PageTitle>
      {userId ? (
        <p>
          One user's domains. <a href="#/all-domains">Show every user's →</a>
        </p>
      ) : null}
      <div class="cols">
        <Field label="Status">
          <select name="domain-status" value={search.values.status} onChange={(e) => search.push({ status: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">All</option>
            {DOMAIN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <SearchForm label="Search domains" name="domain-search" search={search} />
      </div>
      <SaveNoteView note={done} />
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Domains.length ? (
              <table class="grid">
                <thead>
                  <tr>
                    <th>Domain</th>
                    <th>Owner</th>
                    <th>Status</th>
                    <th>Last verified</th>
                    <th>Added</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {(r.Domains as AnyDomain[]).map((d) => (
                    <tr key={d.DomainID} data-domain={d.SenderDomain}>
                      <td data-label="Domain" class="wrap">
                        {d.SenderDomain}
                      </td>
                      <td data-label="Owner">
                        <a href={`#/all-domains?user=${d.UserID}`}>{d.Username}</a>
                      </td>
                      <td data-label="Status">
                        <StatusBadge status={d.DeletionStartedAt ? 'Being deleted' : d.Status} />
                      </td>
                      <td data-label="Last verified">{time(d.LastVerifiedAt)}</td>
                      <td data-label="Added">{time(d.CreatedAt)}</td>
                      <td class="actions">
                        {d.DeletionStartedAt ? (
                          // No status change while its deletion is unfinished (setdomainstatus 6): deleting again finishes.
                          <span class="hint" data-testid="deleting-hint">
                            Its deletion began {time(d.DeletionStartedAt)} and did not finish
                          </span>
                        ) : (
                          // Keyed by status: after a change the other action starts fresh, not mid-confirmation.
                          <SuspendAction d={d} onChange={change} key={d.Status} />
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">{status ? `No ${status} domains.` : 'No domains.'}</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalDomainCount} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}
