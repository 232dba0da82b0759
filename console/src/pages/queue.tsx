import { call } from '../api';
import { Action, ConfirmAction, Field, LoadState, PageTitle, Pager, RefreshButton, SearchForm, StatusBadge, time, useLoad } from '../ui';
import { usePagedSearch } from '../url-state';

interface QueuedDelivery {
  DeliveryID: number;
  MessageID: string;
  SenderDomain: string | null;
  Recipient: string;
  State: string;
  /** For a held one: `queue` (Hold, here) or `suspension` (its domain's; only the admin's lift lets it go). */
  HeldBy?: string;
  Attempts: number;
  LastReply: string | null;
  NextAttemptAt: number | null;
  AgeSeconds: number;
}

const SIZE = 25;
const STATES = ['deferred', 'queued', 'scheduled', 'held', 'leased', 'all'];

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return seconds < 172800 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86400)} d`;
}

/** Deliveries not finished yet: why each waits (the last remote reply), when it is tried next, and what to do about it. */
export function Queue() {
  const search = usePagedSearch(SIZE, { state: STATES });
  const { from, setFrom, term: applied } = search;
  const state = search.applied.state;
  const load = useLoad(
    () => call('queue.list', { State: state, Page: Math.floor(from / SIZE) + 1, Limit: SIZE, ...(applied ? { RecipientDomain: applied } : {}) }),
    [state, applied, from],
  );
  const act = (command: string, deliveryId: number) => async () => {
    await call(command, { DeliveryID: deliveryId });
    await load.reload();
  };
  return (
    <section>
      <PageTitle actions={<RefreshButton load={load} />}>Queue</PageTitle>
      <div class="cols">
        <Field label="State" hint="Deferred: the receiver answered 4xx or could not be reached; held: waiting for you.">
          <select name="queue-state" value={search.values.state} onChange={(e) => search.push({ state: (e.currentTarget as HTMLSelectElement).value })}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <SearchForm label="Recipient domain" name="queue-search" placeholder="gmail.com" search={search} />
      </div>
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Deliveries.length ? (
              <table class="grid" data-testid="queue">
                <thead>
                  <tr>
                    <th>Recipient</th>
                    <th>From domain</th>
                    <th>State</th>
                    <th>Attempts</th>
                    <th>Last reply</th>
                    <th>Next attempt</th>
                    <th>Age</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {(r.Deliveries as QueuedDelivery[]).map((d) => (
                    <tr key={d.DeliveryID} data-recipient={d.Recipient}>
                      <td data-label="Recipient" class="wrap">
                        <a href={`#/messages/${encodeURIComponent(d.MessageID)}`}>{d.Recipient}</a>
                      </td>
                      <td data-label="From domain">{d.SenderDomain ?? ''}</td>
                      <td data-label="State">
                        <StatusBadge status={d.State} />
                      </td>
                      <td data-label="Attempts">{d.Attempts}</td>
                      <td data-label="Last reply" class="wrap">
                        {d.LastReply ?? ''}
                      </td>
                      <td data-label="Next attempt">{d.NextAttemptAt ? time(d.NextAttemptAt) : ''}</td>
                      <td data-label="Age">{age(d.AgeSeconds)}</td>
                      <td class="actions">
                        {d.State === 'held' && d.HeldBy === 'suspension' ? (
                          <span class="muted" data-testid="held-by-suspension" title="Its sender domain is suspended: it goes out when the admin lifts that">
                            Domain suspended
                          </span>
                        ) : d.State === 'held' ? (
                          <Action onRun={act('queue.release', d.DeliveryID)} busyLabel="Releasing…" name="release">
                            Release
                          </Action>
                        ) : (
                          <>
                            {d.State === 'deferred' || d.State === 'queued' ? (
                              <Action onRun={act('queue.retry', d.DeliveryID)} busyLabel="Retrying…" name="retry">
                                Retry now
                              </Action>
                            ) : null}
                            {d.State !== 'leased' ? (
                              <Action onRun={act('queue.hold', d.DeliveryID)} busyLabel="Holding…" name="hold">
                                Hold
                              </Action>
                            ) : null}
                          </>
                        )}
                        {d.State !== 'leased' ? (
                          <ConfirmAction question="Purge? It is never sent and counts as failed." name="purge" onRun={act('queue.purge', d.DeliveryID)}>
                            Purge
                          </ConfirmAction>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">
                {applied ? `No ${state === 'all' ? '' : state + ' '}deliveries to ${applied}.` : `No ${state === 'all' ? 'unfinished' : state} deliveries.`}
              </p>
            )}
            <Pager from={from} size={SIZE} total={r.Total} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}
