import { useState } from 'preact/hooks';
import { call } from '../api';
import {
  Action,
  ConfirmAction,
  CopyButton,
  DomainPicker,
  Field,
  Input,
  LoadState,
  Notice,
  PageTitle,
  RefreshButton,
  StatusBadge,
  time,
  useDomains,
  useLoad,
} from '../ui';

interface Hook {
  WebhookID: number;
  Event: string;
  WebhookURL: string;
  Status: string;
  ConsecutiveFailures: number;
  DisabledReason: string | null;
}

interface Attempt {
  AttemptID: number;
  At: string;
  Event: string | null;
  Attempt: number;
  Result: string;
  StatusCode: number | null;
  DurationMs: number;
  Error: string | null;
}

const EVENTS = ['delivery', 'bounce', 'open', 'click', 'unsubscribe', 'complaint'];

interface Retried {
  Requeued: number;
  More: boolean;
  Enabled: boolean;
}

/** What a retry did, in words: how many calls go out again, and whether the webhook was enabled again. */
function retried(r: Retried): string {
  const calls = r.Requeued ? `${r.Requeued} failed call(s) queued again` : 'No failed calls to retry';
  const enabled = r.Enabled ? '; the webhook is enabled again' : '';
  return `${calls}${enabled}.${r.More ? ' More are left: retry again to queue the next ones.' : ''}`;
}

/** A webhook's delivery log; `onChanged` after a retry, which may have enabled the webhook again. */
function Log({ domainId, hook, onChanged }: { domainId: number; hook: Hook; onChanged: () => Promise<unknown> }) {
  const load = useLoad(
    () => call('emailgateway.getwebhooklog', { DomainID: domainId, WebhookID: hook.WebhookID, RetrieveCount: 50 }),
    [domainId, hook.WebhookID],
  );
  const [outcome, setOutcome] = useState<string | null>(null);
  const retry = async () => {
    const r = await call<Retried>('emailgateway.retrywebhookcalls', { DomainID: domainId, WebhookID: hook.WebhookID });
    setOutcome(retried(r));
    await Promise.all([load.reload(), onChanged()]);
  };
  return (
    <div class="card log" data-webhook-log={hook.WebhookID}>
      <div class="row spread">
        <h3>
          Delivery log of {hook.Event} → <span class="wrap">{hook.WebhookURL}</span>
        </h3>
        <RefreshButton load={load} name="refresh-log" />
      </div>
      <LoadState load={load}>
        {(r) => (
          <>
            <p class="muted">{r.Pending} call(s) waiting to be made or retried.</p>
            <div class="row middle">
              <Action onRun={retry} busyLabel="Queueing…" name="retry-failed">
                Retry failed calls
              </Action>
              <span class="muted">
                Once your receiver works again: sends the calls that failed in the last 7 days again, with the same webhook-id
                {hook.Status === 'Enabled' ? '' : ', and enables the webhook'}.
              </span>
            </div>
            {outcome ? (
              <p role="status" data-testid="retry-outcome">
                {outcome}
              </p>
            ) : null}
            {r.Attempts.length ? (
              <table class="grid compact">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Event</th>
                    <th>Try</th>
                    <th>Result</th>
                    <th>HTTP</th>
                    <th>ms</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.Attempts as Attempt[]).map((a) => (
                    <tr key={a.AttemptID}>
                      <td data-label="When">{time(a.At)}</td>
                      <td data-label="Event">{a.Event ?? '—'}</td>
                      <td data-label="Try">{a.Attempt}</td>
                      <td data-label="Result">
                        <StatusBadge status={a.Result} />
                      </td>
                      <td data-label="HTTP" data-testid="http-status">
                        {a.StatusCode ?? '—'}
                      </td>
                      <td data-label="ms">{a.DurationMs}</td>
                      <td data-label="Error" class="wrap">
                        {a.Error ?? ''}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No calls yet: one is made when this event happens.</p>
            )}
          </>
        )}
      </LoadState>
    </div>
  );
}

/** getwebhooks' reply: the keys are null for a domain being deleted that had none (none is made for it). */
interface Listing {
  Webhooks: Hook[];
  SigningKey: string | null;
  SigningSecret: string | null;
}

/** `deleting`: the domain's deletion began and did not finish: the gateway refuses new webhooks and keys for it. */
function Hooks({ domainId, deleting }: { domainId: number; deleting: boolean }) {
  const load = useLoad(() => call<Listing>('emailgateway.getwebhooks', { DomainID: domainId }), [domainId]);
  const [event, setEvent] = useState('delivery');
  const [url, setUrl] = useState('');
  const [open, setOpen] = useState<number | null>(null);
  const add = async () => {
    await call('emailgateway.addwebhook', { DomainID: domainId, Event: event, WebhookURL: url.trim() });
    setUrl('');
    await load.reload();
  };
  return (
    <>
      {deleting ? (
        <Notice>
          This domain is being deleted: it takes no new webhooks. Finish deleting it on <a href={`#/domains/${domainId}`}>its domain page</a>.
        </Notice>
      ) : (
        <form class="card row" noValidate onSubmit={(e) => e.preventDefault()}>
          <Field label="Event">
            <select name="event" value={event} onChange={(e) => setEvent((e.currentTarget as HTMLSelectElement).value)}>
              {EVENTS.map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          </Field>
          <Field label="URL" hint="http(s) to a public address; Postern refuses private and local ones.">
            <Input name="webhookurl" type="url" value={url} onValue={setUrl} placeholder="https://example.org/hooks/postern" />
          </Field>
          <Action kind="primary" onRun={add} busyLabel="Adding…" disabled={!url.trim()} name="add-webhook" submit>
            Add webhook
          </Action>
        </form>
      )}
      <LoadState load={load}>
        {(r) => (
          <>
            <div class="card">
              <h2>Signing key</h2>
              {r.SigningSecret ? (
                <>
                  <p class="muted">Each call is signed (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature). Verify with this key.</p>
                  <p>
                    <code class="wrap">{r.SigningSecret}</code> <CopyButton text={r.SigningSecret} />
                  </p>
                  {deleting ? null : (
                    <Action
                      busyLabel="Regenerating…"
                      name="regenerate-key"
                      onRun={async () => {
                        await call('emailgateway.regeneratesigningkey', { DomainID: domainId });
                        await load.reload();
                      }}
                    >
                      Regenerate signing key
                    </Action>
                  )}
                </>
              ) : (
                // getwebhooks makes no first key for a domain being deleted (null), and regeneratesigningkey refuses one.
                <p class="muted" data-testid="no-signing-key">
                  No signing key: this domain is being deleted, so none is made for it. Finish deleting it on{' '}
                  <a href={`#/domains/${domainId}`}>its domain page</a>.
                </p>
              )}
            </div>
            {r.Webhooks.length ? (
              <table class="grid" data-testid="webhooks">
                <thead>
                  <tr>
                    <th>Event</th>
                    <th>URL</th>
                    <th>Status</th>
                    <th>Failures</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {r.Webhooks.map((w) => (
                    <tr key={w.WebhookID} data-webhook={w.WebhookID}>
                      <td data-label="Event">{w.Event}</td>
                      <td data-label="URL" class="wrap">
                        {w.WebhookURL}
                      </td>
                      <td data-label="Status">
                        <StatusBadge status={w.Status} /> {w.DisabledReason ? <span class="muted">{w.DisabledReason}</span> : null}
                      </td>
                      <td data-label="Failures">{w.ConsecutiveFailures}</td>
                      <td class="buttons">
                        <button type="button" onClick={() => setOpen(open === w.WebhookID ? null : w.WebhookID)} data-action="show-log">
                          {open === w.WebhookID ? 'Hide log' : 'Log'}
                        </button>{' '}
                        <ConfirmAction
                          question="Delete this webhook?"
                          name="delete-webhook"
                          onRun={async () => {
                            await call('emailgateway.deletewebhook', { DomainID: domainId, WebhookID: w.WebhookID });
                            if (open === w.WebhookID) setOpen(null);
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
            ) : (
              <p class="muted">No webhooks for this domain.</p>
            )}
            {open !== null && r.Webhooks.some((w) => w.WebhookID === open) ? (
              <Log domainId={domainId} hook={r.Webhooks.find((w) => w.WebhookID === open)!} key={open} onChanged={load.reload} />
            ) : null}
          </>
        )}
      </LoadState>
    </>
  );
}

/** Webhooks of one domain: add, delete, the signing key and each webhook's delivery log. */
export function Webhooks() {
  const { load, selected, select } = useDomains();
  return (
    <section>
      <PageTitle>Webhooks</PageTitle>
      <LoadState load={load}>
        {(domains) => (
          <>
            <DomainPicker domains={domains} selected={selected} onSelect={select} />
            {selected ? <Hooks domainId={selected} deleting={!!domains.find((d) => d.DomainID === selected)?.DeletionStartedAt} key={selected} /> : null}
          </>
        )}
      </LoadState>
    </section>
  );
}
