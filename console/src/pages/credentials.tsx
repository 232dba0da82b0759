import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { useRoute } from '../router';
import { Action, ConfirmAction, CopyButton, DomainPicker, Field, Input, LoadState, PageTitle, StatusBadge, time, useDomains, useLoad } from '../ui';

interface SenderKey {
  APIKeyID: number;
  APIKey: string;
  Description: string;
  Status: string;
  CreatedAt: string;
  LastUsedAt: string | null;
}

interface Smtp {
  SMTPID: number;
  SMTPUsername: string;
  SMTPHost: string;
  SMTPPorts: number[];
  CreatedAt: string;
}

/** A secret shown once: copy it now, it cannot be shown again. */
function Secret({ title, value, onDone }: { title: string; value: string; onDone: () => void }) {
  return (
    <div class="card secret" role="alert">
      <h3>{title}</h3>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> Postern stores only its hash.
      </p>
      <p>
        <code class="wrap" data-testid="secret">
          {value}
        </code>{' '}
        <CopyButton text={value} name="copy-secret" />
      </p>
      <button type="button" onClick={onDone} data-action="secret-done">
        I have stored it
      </button>
    </div>
  );
}

function ApiKeys({ domainId }: { domainId: number }) {
  const load = useLoad(async () => (await call('emailgateway.getapis', { DomainID: domainId })).APIKeys as SenderKey[], [domainId]);
  const [description, setDescription] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const create = async () => {
    const r = await call('emailgateway.addapi', { DomainID: domainId, Description: description.trim() || 'console' });
    setSecret(r.APIKey.APIKey);
    setDescription('');
    await load.reload();
  };
  return (
    <div class="card">
      <h2>Sender API keys</h2>
      <p class="muted">
        Send with <code>POST /api/v1/email</code> and <code>Authorization: Bearer &lt;key&gt;</code>.
      </p>
      {secret ? <Secret title="New API key" value={secret} onDone={() => setSecret(null)} /> : null}
      <form class="row" noValidate onSubmit={(e) => e.preventDefault()}>
        <Field label="Description">
          <Input name="keydescription" value={description} onValue={setDescription} placeholder="production" />
        </Field>
        <Action kind="primary" onRun={create} busyLabel="Creating…" name="create-key" submit>
          Create API key
        </Action>
      </form>
      <LoadState load={load}>
        {(keys) =>
          keys.length ? (
            <table class="grid" data-testid="api-keys">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Description</th>
                  <th>Status</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={k.APIKeyID}>
                    <td data-label="Key">
                      <code>{k.APIKey}</code>
                    </td>
                    <td data-label="Description">{k.Description}</td>
                    <td data-label="Status">
                      <StatusBadge status={k.Status} />
                    </td>
                    <td data-label="Last used">{time(k.LastUsedAt)}</td>
                    <td>
                      <ConfirmAction
                        question="Revoke this key? Clients using it stop working."
                        name="revoke-key"
                        onRun={async () => {
                          await call('emailgateway.deleteapi', { APIKeyID: k.APIKeyID });
                          await load.reload();
                        }}
                      >
                        Revoke
                      </ConfirmAction>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">No API keys yet.</p>
          )
        }
      </LoadState>
    </div>
  );
}

function SmtpLogins({ domainId }: { domainId: number }) {
  const load = useLoad(async () => (await call('emailgateway.getsmtps', { DomainID: domainId })).SMTPs as Smtp[], [domainId]);
  const [secret, setSecret] = useState<{ title: string; value: string } | null>(null);
  const create = async () => {
    const r = await call('emailgateway.addsmtp', { DomainID: domainId });
    setSecret({ title: `SMTP password for ${r.SMTP.SMTPUsername}`, value: r.SMTP.SMTPPassword });
    await load.reload();
  };
  const rows = load.data ?? [];
  return (
    <div class="card">
      <h2>SMTP logins</h2>
      {rows[0] ? (
        <p>
          Server <code>{rows[0].SMTPHost}</code>, ports <code>{rows[0].SMTPPorts.join(', ')}</code> with STARTTLS; AUTH PLAIN or LOGIN.
        </p>
      ) : (
        <p class="muted">Create a login to relay mail over SMTP; the server and ports are shown with it.</p>
      )}
      {secret ? <Secret title={secret.title} value={secret.value} onDone={() => setSecret(null)} /> : null}
      <Action kind="primary" onRun={create} busyLabel="Creating…" name="create-smtp">
        Create SMTP login
      </Action>
      <LoadState load={load}>
        {(list) =>
          list.length ? (
            <table class="grid">
              <thead>
                <tr>
                  <th>Username</th>
                  <th>Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.map((s) => (
                  <tr key={s.SMTPID}>
                    <td data-label="Username">
                      <code>{s.SMTPUsername}</code> <CopyButton text={s.SMTPUsername} />
                    </td>
                    <td data-label="Created">{time(s.CreatedAt)}</td>
                    <td class="buttons">
                      <Action
                        onRun={async () => {
                          const r = await call('emailgateway.resetsmtppassword', { SMTPID: s.SMTPID });
                          setSecret({ title: `New SMTP password for ${s.SMTPUsername}`, value: r.SMTP?.SMTPPassword ?? r.SMTPPassword });
                        }}
                        busyLabel="Resetting…"
                        name="reset-smtp"
                      >
                        Reset password
                      </Action>{' '}
                      <ConfirmAction
                        question="Delete this login?"
                        name="delete-smtp"
                        onRun={async () => {
                          await call('emailgateway.deletesmtp', { SMTPID: s.SMTPID });
                          await load.reload();
                        }}
                      >
                        Delete
                      </ConfirmAction>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null
        }
      </LoadState>
    </div>
  );
}

/** Credentials of one domain: sender API keys and SMTP logins; secrets are shown once, then masked. */
export function Credentials() {
  const route = useRoute();
  const { load, selected, select } = useDomains();
  const asked = Number(route.query.get('domain'));
  useEffect(() => {
    if (asked) select(asked);
  }, [asked]);
  return (
    <section>
      <PageTitle>Credentials</PageTitle>
      <LoadState load={load}>
        {(domains) => (
          <>
            <DomainPicker domains={domains} selected={selected} onSelect={select} />
            {selected ? (
              <div class="cols">
                <ApiKeys domainId={selected} key={`k${selected}`} />
                <SmtpLogins domainId={selected} key={`s${selected}`} />
              </div>
            ) : null}
          </>
        )}
      </LoadState>
    </section>
  );
}
