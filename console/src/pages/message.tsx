import { useEffect } from 'preact/hooks';
import { call } from '../api';
import { Action, LoadState, PageTitle, StatusBadge, time, useLoad } from '../ui';

interface Event {
  Event: string;
  LoggedAt: number;
  Data: Record<string, unknown>;
}

interface Recipient {
  Email: string;
  Type: string;
  Status: string;
  Attempts: number;
  LastReply: string | null;
  BounceClass: string | null;
  NextAttemptAt: string | null;
  Events: Event[];
}

const PENDING = ['queued', 'scheduled', 'sending', 'deferred'];

/** The CapturedID named by a delivery's reply in capture mode (`250 2.0.0 Ok: captured as 12 …`). */
const captured = (reply: string): string | undefined => /^250 2\.0\.0 Ok: captured as (\d+) /.exec(reply)?.[1];

/** What a verified hop's TLS policy adds after "over TLSv1.3" (may and encrypt check no certificate). */
const VERIFIED: Record<string, string> = { verify: ', certificate verified', 'mta-sts': ", certificate verified (the domain's MTA-STS policy)" };

/** The details worth showing beside an event: the remote reply, the bounce class, the link, the client, the TLS. */
function detail(e: Event): string {
  const d = e.Data ?? {};
  const parts: string[] = [];
  for (const k of ['smtp_reply', 'bounce_class', 'url', 'ip', 'user_agent', 'reason']) {
    const v = d[k];
    if (v !== undefined && v !== null && v !== '') parts.push(k === 'bounce_class' ? `class: ${String(v)}` : String(v));
  }
  if (d.machine) parts.push('(machine)');
  // How a delivered copy crossed the wire to the next hop (absent in capture mode).
  if (typeof d.tls === 'string') parts.push(d.tls === 'none' ? 'no TLS' : `over ${d.tls}${VERIFIED[String(d.tls_policy)] ?? ''}`);
  return parts.join(' · ');
}

/** One message: each recipient's status and the timeline of its events; cancel what is not sent yet. */
export function MessagePage({ id }: { id: string }) {
  const load = useLoad(() => call('emailgateway.getmessagetimeline', { MessageID: id }), [id]);
  const pending = !!load.data && (load.data.Recipients as Recipient[]).some((r) => PENDING.includes(r.Status));
  // While anything is still on its way, look again every two seconds.
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => void load.reload(), 2000);
    return () => clearInterval(t);
  }, [pending, load.reload]);
  return (
    <section>
      <p>
        <a href="#/messages">← Message log</a>
      </p>
      <LoadState load={load}>
        {(m) => (
          <>
            <PageTitle
              actions={
                (m.Recipients as Recipient[]).some((r) => ['queued', 'scheduled', 'deferred'].includes(r.Status)) ? (
                  <Action
                    kind="danger"
                    busyLabel="Cancelling…"
                    name="cancel-message"
                    onRun={async () => {
                      await call('emailgateway.cancelqueuedmessage', { MessageID: id });
                      await load.reload();
                    }}
                  >
                    Cancel sending
                  </Action>
                ) : null
              }
            >
              {m.Subject || '(no subject)'}
            </PageTitle>
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <StatusBadge status={m.Status} /> {pending ? <span class="muted">(updating…)</span> : null}
              </dd>
              <dt>From</dt>
              <dd>{m.From}</dd>
              <dt>Domain</dt>
              <dd>{m.SenderDomain}</dd>
              <dt>Accepted</dt>
              <dd>{time(m.CreatedAt)}</dd>
              {m.SendAt ? (
                <>
                  <dt>Scheduled for</dt>
                  <dd>{time(m.SendAt)}</dd>
                </>
              ) : null}
              <dt>Message ID</dt>
              <dd>
                <code>{m.MessageID}</code>
              </dd>
              {m.Tags.length ? (
                <>
                  <dt>Tags</dt>
                  <dd>{m.Tags.join(', ')}</dd>
                </>
              ) : null}
            </dl>
            {(m.Recipients as Recipient[]).map((r) => (
              <div class="card recipient" key={r.Email + r.Type} data-recipient={r.Email}>
                <h2>
                  {r.Email} <span class="muted">({r.Type})</span> <StatusBadge status={r.Status} />
                </h2>
                <p class="muted">
                  Attempts: {r.Attempts}
                  {r.NextAttemptAt ? ` · next attempt ${time(r.NextAttemptAt)}` : ''}
                  {r.BounceClass ? ` · bounce class ${r.BounceClass}` : ''}
                </p>
                {r.LastReply ? (
                  <p>
                    Last reply: <code class="wrap">{r.LastReply}</code>
                    {captured(r.LastReply) ? (
                      <>
                        {' '}
                        <a href={`#/mailbox/${captured(r.LastReply)}`}>Read the captured copy</a>
                      </>
                    ) : null}
                  </p>
                ) : null}
                <ol class="timeline">
                  {r.Events.map((e, i) => (
                    <li key={i} class={`ev ev-${e.Event}`}>
                      <span class="when">{time(e.LoggedAt)}</span> <strong>{e.Event}</strong> <span class="wrap">{detail(e)}</span>
                    </li>
                  ))}
                </ol>
              </div>
            ))}
          </>
        )}
      </LoadState>
    </section>
  );
}
