import { call } from '../api';
import { Field, Input, LoadState, PageTitle, RefreshButton, StatusBadge, time, useDomains, useLoad } from '../ui';
import { DAY, MAX_VALUE, NUMBER, useUrlState } from '../url-state';

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
/** The cursors of the pages before this one, oldest last (Newer drops one, Older adds one): in the address as the rest are. */
const CURSORS = /^\d{1,15}_[0-9a-f-]{36}(,\d{1,15}_[0-9a-f-]{36})*$/;
const FILTERS = { domain: NUMBER, recipient: 'text', status: STATUSES, tag: 'text', from: DAY, to: DAY, before: CURSORS } as const;
type Filter = keyof typeof FILTERS;
/** The pages back live in the address, which keeps so many (url-state.ts): past them, a date range goes further. */
const tooDeep = (cursors: string[], next: string) => [...cursors, next].join(',').length > MAX_VALUE;

/** The message log: filters in the address (a reload, Back or a shared link keeps them), pages fetched from the server by cursor. */
export function Messages() {
  const f = useUrlState<Filter>(FILTERS);
  const q = f.applied;
  const cursors = q.before ? q.before.split(',') : [];
  const before = cursors[cursors.length - 1];
  const { load: domains } = useDomains();
  const text = (v: string) => v.trim() || undefined;
  const load = useLoad(
    () =>
      call('emailgateway.getmessagelog', {
        RetrieveCount: 25,
        ...(q.domain ? { DomainID: Number(q.domain) } : {}),
        ...(text(q.recipient) ? { Recipient: text(q.recipient) } : {}),
        ...(q.status ? { Status: q.status } : {}),
        ...(text(q.tag) ? { Tag: text(q.tag) } : {}),
        ...(q.from ? { StartDate: q.from } : {}),
        ...(q.to ? { EndDate: q.to } : {}),
        ...(before ? { Before: before } : {}),
      }),
    [JSON.stringify(q)],
  );
  // A new filter starts again at the newest page.
  const choose = (k: Filter) => (e: Event) => f.push({ [k]: (e.currentTarget as HTMLSelectElement).value, before: '' });
  const type = (k: Filter) => (v: string) => f.type({ [k]: v, before: '' });
  const page = (list: string[]) => f.push({ before: list.join(',') });
  return (
    <section>
      <PageTitle actions={<RefreshButton load={load} />}>Messages</PageTitle>
      <form
        class="card filters"
        onSubmit={(e) => {
          e.preventDefault();
          f.apply();
        }}
      >
        <Field label="Domain">
          <select name="domain" value={f.values.domain} onChange={choose('domain')}>
            <option value="">All domains</option>
            {(domains.data ?? []).map((d) => (
              <option key={d.DomainID} value={String(d.DomainID)}>
                {d.SenderDomain}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Recipient">
          <Input name="recipient" type="search" value={f.values.recipient} onValue={type('recipient')} placeholder="jane@example.org" />
        </Field>
        <Field label="Status">
          <select name="status" value={f.values.status} onChange={choose('status')}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'Any status'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Tag">
          <Input name="tag" value={f.values.tag} onValue={type('tag')} />
        </Field>
        <Field label="From day">
          <Input name="from" type="date" value={f.values.from} onValue={type('from')} />
        </Field>
        <Field label="To day">
          <Input name="to" type="date" value={f.values.to} onValue={type('to')} />
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
              <button type="button" disabled={!cursors.length} onClick={() => page(cursors.slice(0, -1))} data-action="newer">
                ← Newer
              </button>
              <span>Page {cursors.length + 1}</span>
              <button
                type="button"
                disabled={!r.HasMore || tooDeep(cursors, r.NextCursor)}
                title={r.HasMore && tooDeep(cursors, r.NextCursor) ? 'This many pages back at most: set a date range to go further' : undefined}
                onClick={() => page([...cursors, r.NextCursor])}
                data-action="older"
              >
                Older →
              </button>
            </div>
          </>
        )}
      </LoadState>
    </section>
  );
}
