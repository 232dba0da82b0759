import { useState } from 'preact/hooks';
import { call } from '../api';
import { go, useRoute } from '../router';
import { Field, Input, LoadState, PageTitle, RefreshButton, StatusBadge, time, useDomains, useLoad } from '../ui';

interface LogRow {
  MessageID: string;
  SenderDomain: string;
  From: string;
  Subject: string;
  Tags: string[];
  Status: string;
  Recipients: { Email: string; Status: string }[];
  CreatedAt: string;
}

const STATUSES = ['', 'queued', 'scheduled', 'sending', 'deferred', 'delivered', 'bounced', 'failed', 'cancelled'];
const FILTERS = ['domain', 'recipient', 'status', 'tag', 'from', 'to'] as const;

/** The message log: filters in the address (a reload keeps them), pages fetched from the server by cursor. */
export function Messages() {
  const route = useRoute();
  const q = Object.fromEntries(FILTERS.map((k) => [k, route.query.get(k) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const [form, setForm] = useState(q);
  // Cursors of the pages before this one: Newer pops, Older pushes.
  const [cursors, setCursors] = useState<string[]>([]);
  const before = cursors[cursors.length - 1];
  const { load: domains } = useDomains();
  const key = JSON.stringify(q);
  const load = useLoad(
    () =>
      call('emailgateway.getmessagelog', {
        RetrieveCount: 25,
        ...(q.domain ? { DomainID: Number(q.domain) } : {}),
        ...(q.recipient ? { Recipient: q.recipient } : {}),
        ...(q.status ? { Status: q.status } : {}),
        ...(q.tag ? { Tag: q.tag } : {}),
        ...(q.from ? { StartDate: q.from } : {}),
        ...(q.to ? { EndDate: q.to } : {}),
        ...(before ? { Before: before } : {}),
      }),
    [key, before],
  );
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });
  const search = (e: Event) => {
    e.preventDefault();
    setCursors([]);
    go('messages', form);
  };
  return (
    <section>
      <PageTitle actions={<RefreshButton load={load} />}>Messages</PageTitle>
      <form class="card filters" onSubmit={search}>
        <Field label="Domain">
          <select name="domain" value={form.domain} onChange={(e) => set('domain')((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">All domains</option>
            {(domains.data ?? []).map((d) => (
              <option key={d.DomainID} value={String(d.DomainID)}>
                {d.SenderDomain}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Recipient">
          <Input name="recipient" type="search" value={form.recipient} onValue={set('recipient')} placeholder="jane@example.org" />
        </Field>
        <Field label="Status">
          <select name="status" value={form.status} onChange={(e) => set('status')((e.currentTarget as HTMLSelectElement).value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'Any status'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Tag">
          <Input name="tag" value={form.tag} onValue={set('tag')} />
        </Field>
        <Field label="From day">
          <Input name="from" type="date" value={form.from} onValue={set('from')} />
        </Field>
        <Field label="To day">
          <Input name="to" type="date" value={form.to} onValue={set('to')} />
        </Field>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Messages.length ? (
              <table class="grid messages" aria-busy={load.loading}>
                <thead>
                  <tr>
                    <th>Accepted</th>
                    <th>Status</th>
                    <th>To</th>
                    <th>Subject</th>
                    <th>From</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.Messages as LogRow[]).map((m) => (
                    <tr key={m.MessageID} data-message={m.MessageID}>
                      <td data-label="Accepted">
                        <a href={`#/messages/${m.MessageID}`}>{time(m.CreatedAt)}</a>
                      </td>
                      <td data-label="Status">
                        <StatusBadge status={m.Status} />
                      </td>
                      <td data-label="To" class="wrap">
                        {m.Recipients.slice(0, 3)
                          .map((x) => x.Email)
                          .join(', ')}
                        {m.Recipients.length > 3 ? ` +${m.Recipients.length - 3}` : ''}
                      </td>
                      <td data-label="Subject" class="wrap">
                        <a href={`#/messages/${m.MessageID}`}>{m.Subject || '(no subject)'}</a>
                        {m.Tags.length ? <span class="tags"> {m.Tags.join(', ')}</span> : null}
                      </td>
                      <td data-label="From" class="wrap">
                        {m.From}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No messages match.</p>
            )}
            <div class="pager">
              <button type="button" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))} data-action="newer">
                ← Newer
              </button>
              <span>Page {cursors.length + 1}</span>
              <button type="button" disabled={!r.HasMore} onClick={() => setCursors([...cursors, r.NextCursor])} data-action="older">
                Older →
              </button>
            </div>
          </>
        )}
      </LoadState>
    </section>
  );
}
