import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { LoadState, PageTitle, Pager, RefreshButton, SearchForm, time, useLoad } from '../ui';
import { usePagedSearch } from '../url-state';
import { MailPreview } from '../preview';

interface Captured {
  CapturedID: number;
  MessageID: string;
  MailFrom: string;
  RcptTo: string;
  From: string;
  Subject: string;
  Size: number;
  CapturedAt: string;
}

interface Parsed {
  From: string | null;
  To: string[];
  Cc: string[];
  Subject: string;
  Date: string | null;
  DKIMSignatures: { Domain: string; Selector: string }[];
  Headers: { Name: string; Value: string }[];
  Text: string;
  HTML: string;
  Attachments: { Filename: string | null; ContentType: string; Size: number }[];
}

const SIZE = 25;

function CapturedList() {
  const search = usePagedSearch(SIZE);
  const { from, setFrom, term: applied } = search;
  const load = useLoad(
    () => call('emailgateway.getcapturedmessages', { StartFrom: from, RetrieveCount: SIZE, ...(applied ? { Recipient: applied } : {}) }),
    [from, applied],
  );
  return (
    <section>
      <PageTitle actions={<RefreshButton load={load} />}>Mailbox</PageTitle>
      <p class="muted">
        Messages kept instead of sent while Postern runs with <code>DELIVERY_MODE=capture</code> (the default under <code>POSTERN_DEV=1</code>): each
        recipient's copy exactly as it would have gone out, tracked and DKIM-signed.
      </p>
      <SearchForm label="Recipient" name="recipient" placeholder="jane@example.org" search={search} />
      <LoadState load={load}>
        {(r) => (
          <>
            {r.CapturedMessages.length ? (
              <table class="grid mailbox" aria-busy={load.loading}>
                <thead>
                  <tr>
                    <th>Captured</th>
                    <th>To</th>
                    <th>Subject</th>
                    <th>From</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.CapturedMessages as Captured[]).map((c) => (
                    <tr key={c.CapturedID} data-captured={c.CapturedID}>
                      <td data-label="Captured">
                        <a href={`#/mailbox/${c.CapturedID}`}>{time(c.CapturedAt)}</a>
                      </td>
                      <td data-label="To" class="wrap">
                        {c.RcptTo}
                      </td>
                      <td data-label="Subject" class="wrap">
                        <a href={`#/mailbox/${c.CapturedID}`}>{c.Subject || '(no subject)'}</a>
                      </td>
                      <td data-label="From" class="wrap">
                        {c.From}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">{applied ? 'No captured message to that address.' : 'No captured messages.'}</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalRecords} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

type Tab = 'html' | 'text' | 'headers' | 'raw';
const TABS: [Tab, string][] = [
  ['html', 'HTML'],
  ['text', 'Text'],
  ['headers', 'Headers'],
  ['raw', 'Raw'],
];

/** The exact bytes (as the API gives them) with a link that saves them as an .eml file. */
function Raw({ id }: { id: number }) {
  const load = useLoad(async () => (await call('emailgateway.getcapturedmessage', { CapturedID: id, Format: 'raw' })).RawMIME as string, [id]);
  const [href, setHref] = useState<string | null>(null);
  useEffect(() => {
    if (load.data === undefined || load.data === null) return;
    const url = URL.createObjectURL(new Blob([load.data], { type: 'message/rfc822' }));
    setHref(url);
    return () => URL.revokeObjectURL(url);
  }, [load.data]);
  return (
    <LoadState load={load}>
      {(raw) => (
        <>
          {href ? (
            <p>
              <a href={href} download={`captured-${id}.eml`} data-action="download-eml">
                Download .eml
              </a>
            </p>
          ) : null}
          <pre class="raw" data-testid="raw">
            {raw}
          </pre>
        </>
      )}
    </LoadState>
  );
}

function CapturedPage({ id }: { id: number }) {
  const load = useLoad(async () => (await call('emailgateway.getcapturedmessage', { CapturedID: id })).CapturedMessage, [id]);
  const [tab, setTab] = useState<Tab>('html');
  return (
    <section>
      <p>
        <a href="#/mailbox">← Mailbox</a>
      </p>
      <LoadState load={load}>
        {(c) => {
          const p = c.Parsed as Parsed;
          return (
            <>
              <PageTitle>{p.Subject || '(no subject)'}</PageTitle>
              <dl class="facts">
                <dt>From</dt>
                <dd>{p.From ?? '—'}</dd>
                <dt>To</dt>
                <dd>{p.To.join(', ') || '—'}</dd>
                {p.Cc.length ? (
                  <>
                    <dt>Cc</dt>
                    <dd>{p.Cc.join(', ')}</dd>
                  </>
                ) : null}
                <dt>Envelope</dt>
                <dd>
                  <code class="wrap">{c.MailFrom}</code> → <code class="wrap">{c.RcptTo}</code>
                </dd>
                <dt>DKIM</dt>
                <dd data-testid="dkim">
                  {p.DKIMSignatures.length ? p.DKIMSignatures.map((s) => `signed by ${s.Domain} (selector ${s.Selector})`).join('; ') : 'not signed'}
                </dd>
                <dt>Captured</dt>
                <dd>
                  {time(c.CapturedAt)} · {c.Size} bytes
                </dd>
                <dt>Message</dt>
                <dd>
                  <a href={`#/messages/${c.MessageID}`}>
                    <code>{c.MessageID}</code>
                  </a>
                </dd>
                {p.Attachments.length ? (
                  <>
                    <dt>Attachments</dt>
                    <dd>{p.Attachments.map((a) => `${a.Filename ?? '(unnamed)'} (${a.ContentType}, ${a.Size} bytes)`).join(', ')}</dd>
                  </>
                ) : null}
              </dl>
              <div class="tabs" role="tablist">
                {TABS.map(([t, label]) => (
                  <button type="button" role="tab" key={t} class={`tab${tab === t ? ' on' : ''}`} aria-selected={tab === t} onClick={() => setTab(t)}>
                    {label}
                  </button>
                ))}
              </div>
              <div class="card" role="tabpanel">
                {tab === 'html' ? p.HTML ? <MailPreview title="Message preview" html={p.HTML} /> : <p class="muted">This message has no HTML part.</p> : null}
                {tab === 'text' ? <pre class="raw">{p.Text || '(no text part)'}</pre> : null}
                {tab === 'headers' ? (
                  <table class="grid compact">
                    <tbody>
                      {p.Headers.map((h, i) => (
                        <tr key={i}>
                          <th>{h.Name}</th>
                          <td class="wrap">{h.Value}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
                {tab === 'raw' ? <Raw id={id} /> : null}
              </div>
            </>
          );
        }}
      </LoadState>
    </section>
  );
}

/** Captured mail (DELIVERY_MODE=capture): the list, or one message with its HTML, text, headers and raw MIME. */
export function Mailbox({ id }: { id: number | null }) {
  return id ? <CapturedPage id={id} key={id} /> : <CapturedList />;
}
