import { useState } from 'preact/hooks';
import { call } from '../api';
import { go } from '../router';
import {
  Action,
  Check,
  ConfirmAction,
  CopyButton,
  Field,
  Input,
  LoadState,
  Notice,
  PageTitle,
  SaveNote,
  SaveNoteView,
  StatusBadge,
  time,
  useLoad,
  useSaveNote,
} from '../ui';

interface DnsRecord {
  Host: string;
  Type: string;
  Value: string;
  Required: boolean;
  Purpose: string;
  Verified: boolean | null;
  Found: string[] | null;
}

interface Domain {
  DomainID: number;
  SenderDomain: string;
  Status: string;
  /** When a deletion of it began that did not finish (it sends nothing and cannot be switched on); null otherwise. */
  DeletionStartedAt?: string | null;
  LastVerifiedAt: string | null;
  MFROMDomain: string;
  TrackingDomain: string;
  Options: { LinkTracking: number; OpenTracking: number; UnsubscribeLink: number; CustomSubdomain?: string; TrackPrefixDisabled?: boolean };
  DNSRecords: DnsRecord[];
}

const PURPOSE: Record<string, string> = {
  mfrom: 'Return path: bounces come back here (MX and SPF follow the CNAME)',
  dkim: 'DKIM key: receivers check the signature with it',
  tracking: 'Tracking host for open, click and unsubscribe links',
  dmarc: 'DMARC policy (recommended, not required)',
};

function Records({ records }: { records: DnsRecord[] }) {
  const all = records.map((r) => `${r.Host}. ${r.Type} ${r.Type === 'TXT' ? JSON.stringify(r.Value) : `${r.Value}.`}`).join('\n');
  return (
    <>
      <div class="row spread">
        <h2>DNS records to publish</h2>
        <CopyButton text={all} label="Copy all as zone lines" name="copy-all-records" />
      </div>
      <table class="grid records">
        <thead>
          <tr>
            <th>Host</th>
            <th>Type</th>
            <th>Value</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr key={r.Host} data-host={r.Host}>
              <td data-label="Host">
                <code class="wrap">{r.Host}</code> <CopyButton text={r.Host} name="copy-host" />
                <div class="hint">
                  {PURPOSE[r.Purpose] ?? r.Purpose}
                  {r.Required ? '' : ' · optional'}
                </div>
              </td>
              <td data-label="Type">{r.Type}</td>
              <td data-label="Value">
                <code class="wrap value">{r.Value}</code> <CopyButton text={r.Value} name="copy-value" />
              </td>
              <td data-label="Result" class="result">
                <Check ok={r.Verified} />
                {r.Verified === false ? <div class="hint">Found: {r.Found && r.Found.length ? r.Found.join(' | ') : 'nothing'}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * `saved` is the last save's note, kept by the page: the form is made anew when a save changes the return-path host
 * (its fields start from the saved values), and a note of its own would go with the old one.
 */
function Options({ d, saved, onSaved }: { d: Domain; saved: SaveNote; onSaved: () => Promise<void> }) {
  const [link, setLink] = useState(!!d.Options.LinkTracking);
  const [open, setOpen] = useState(!!d.Options.OpenTracking);
  const [unsub, setUnsub] = useState(!!d.Options.UnsubscribeLink);
  const [sub, setSub] = useState(d.Options.CustomSubdomain ?? '');
  const save = async () => {
    await saved.run(async () => {
      const r = await call('emailgateway.updatedomain', {
        DomainID: d.DomainID,
        LinkTracking: link,
        OpenTracking: open,
        UnsubscribeLink: unsub,
        ...(sub !== (d.Options.CustomSubdomain ?? '') ? { Subdomain: sub } : {}),
      });
      return r.SubdomainChanged ? 'Saved. The return-path host changed: publish the new records and verify again.' : 'Saved.';
    });
    await onSaved();
  };
  const checked = (set: (v: boolean) => void) => (e: Event) => saved.edit(set)((e.currentTarget as HTMLInputElement).checked);
  return (
    <form class="card" noValidate onSubmit={(e) => e.preventDefault()}>
      <h2>Options</h2>
      <label class="check">
        <input type="checkbox" name="linktracking" checked={link} onChange={checked(setLink)} /> Track link clicks
      </label>
      <label class="check">
        <input type="checkbox" name="opentracking" checked={open} onChange={checked(setOpen)} /> Track opens
      </label>
      <label class="check">
        <input type="checkbox" name="unsubscribelink" checked={unsub} onChange={checked(setUnsub)} /> Add an unsubscribe link
      </label>
      <Field label="Return-path subdomain" hint={`Now ${d.MFROMDomain}. Changing it needs new DNS records.`}>
        <Input name="subdomain" value={sub} onValue={saved.edit(setSub)} placeholder="sl" />
      </Field>
      <Action onRun={save} busyLabel="Saving…" name="save-options" submit>
        Save options
      </Action>
      <SaveNoteView note={saved} />
    </form>
  );
}

/** Its note (the last send's message ID) stays through an edit of To: it names no address, and its link still leads to that message. */
function SendTest({ d }: { d: Domain }) {
  const [to, setTo] = useState('');
  const sent = useSaveNote();
  const send = () =>
    sent.run(async () => {
      const { MessageID: id } = await call('emailgateway.sendtestemail', { DomainID: d.DomainID, ToEmail: to.trim() });
      return (
        <>
          Accepted as <code>{id}</code>. <a href={`#/messages/${id}`}>Follow it in the message log →</a>
        </>
      );
    });
  return (
    <form class="card" noValidate onSubmit={(e) => e.preventDefault()}>
      <h2>Send a test email</h2>
      {d.Status === 'Suspended' ? (
        <p class="muted">Sending is stopped while the domain is suspended.</p>
      ) : d.DeletionStartedAt ? (
        <p class="muted">Nothing is sent from a domain being deleted.</p>
      ) : d.Status !== 'Enabled' ? (
        <p class="muted">The domain must be Enabled (verified) before it can send.</p>
      ) : null}
      <div class="row">
        <Field label="To">
          <Input name="toemail" type="email" placeholder="you@example.org" value={to} onValue={setTo} />
        </Field>
        <Action kind="primary" onRun={send} busyLabel="Sending…" disabled={!to.trim() || d.Status === 'Suspended'} name="send-test" submit>
          Send test
        </Action>
      </div>
      <SaveNoteView note={sent} />
    </form>
  );
}

/** One domain: its DNS records with copy buttons, "Verify now", options, a test send and deletion. */
export function DomainPage({ id }: { id: number }) {
  const load = useLoad(async () => (await call('emailgateway.getdomain', { DomainID: id })).Domain as Domain, [id]);
  const [verified, setVerified] = useState<string | null>(null);
  const optionsSaved = useSaveNote();
  const verify = async () => {
    const r = await call('emailgateway.verifydomain', { DomainID: id });
    const bad = (r.Records as DnsRecord[]).filter((x) => x.Required && !x.Verified).length;
    setVerified(
      r.Domain.Status === 'Enabled'
        ? 'Every required record is right: the domain is Enabled.'
        : `${bad} required record(s) are missing or wrong. DNS changes can take a while to show; try again later.`,
    );
    await load.reload();
  };
  return (
    <section>
      <LoadState load={load}>
        {(d) => (
          <>
            <PageTitle
              actions={
                // A suspended domain stays suspended whatever DNS says, and one being deleted cannot be verified
                // (the gateway refuses it): verifying would only suggest otherwise.
                d.Status === 'Suspended' || d.DeletionStartedAt ? null : (
                  <Action kind="primary" onRun={verify} busyLabel="Checking DNS…" name="verify">
                    Verify now
                  </Action>
                )
              }
            >
              {d.SenderDomain}
            </PageTitle>
            <p>
              Status: <StatusBadge status={d.DeletionStartedAt ? 'Being deleted' : d.Status} />{' '}
              <span class="muted">Last checked: {time(d.LastVerifiedAt)}</span>
            </p>
            {d.Status === 'Suspended' ? (
              <p class="error" data-testid="suspended-note">
                Sending is stopped: this domain is suspended, for a high bounce or complaint rate or by the installation’s admin. New mail from it is refused,
                and mail already queued waits (held) until the suspension is lifted. You cannot enable it here: only the installation’s admin can lift the
                suspension, so contact them.
              </p>
            ) : null}
            {d.DeletionStartedAt ? (
              <p class="error" data-testid="deleting-note">
                Its deletion began {time(d.DeletionStartedAt)} and did not finish: it sends nothing and cannot be switched back on. Press Finish deleting below
                to remove the rest.
              </p>
            ) : null}
            {verified ? <Notice>{verified}</Notice> : null}
            <Records records={d.DNSRecords} />
            <p class="muted">
              Keys and SMTP logins for this domain are on the <a href={`#/credentials?domain=${d.DomainID}`}>Credentials</a> page.
            </p>
            <div class="cols">
              <SendTest d={d} />
              <Options d={d} saved={optionsSaved} onSaved={load.reload} key={`${d.DomainID}-${d.Options.CustomSubdomain ?? ''}`} />
            </div>
            <div class="card danger-zone">
              <h2>Delete</h2>
              <p class="muted">Deletes the domain with its DKIM key, API keys, SMTP logins and webhooks.</p>
              <ConfirmAction
                question={`Delete ${d.SenderDomain}?`}
                name="delete-domain"
                onRun={async () => {
                  await call('emailgateway.deletedomain', { DomainID: id });
                  go('domains');
                }}
              >
                {d.DeletionStartedAt ? 'Finish deleting' : 'Delete domain'}
              </ConfirmAction>
            </div>
          </>
        )}
      </LoadState>
    </section>
  );
}
