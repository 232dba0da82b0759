import { useState } from 'preact/hooks';
import { call } from '../api';
import { go } from '../router';
import { Action, ConfirmAction, Field, Input, LoadState, PageTitle, Pager, SearchForm, StatusBadge, time, useLoad } from '../ui';
import { usePagedSearch } from '../url-state';

interface ListRow {
  ListID: number;
  Name: string;
  Description: string;
  SubscriberCount: number;
  CreatedAt: string;
}

interface Subscriber {
  SubscriberID: number;
  EmailAddress: string;
  SubscriptionStatus: string;
  SubscriptionDate: string | null;
  CustomFields: Record<string, string>;
  Suppressed?: boolean;
}

const SIZE = 25;
const nowText = () => new Date().toISOString().slice(0, 19).replace('T', ' ');

function AllLists() {
  const { from, setFrom } = usePagedSearch(SIZE);
  const [name, setName] = useState('');
  const load = useLoad(() => call('lists.get', { RecordsPerRequest: SIZE, RecordsFrom: from }), [from]);
  const create = async () => {
    const r = await call('list.create', { SubscriberListName: name.trim() });
    go(`lists/${r.ListID}`);
  };
  return (
    <section>
      <PageTitle>Lists</PageTitle>
      <form class="card row" noValidate onSubmit={(e) => e.preventDefault()}>
        <Field label="New list">
          <Input name="listname" value={name} onValue={setName} placeholder="Newsletter" />
        </Field>
        <Action kind="primary" onRun={create} busyLabel="Creating…" disabled={!name.trim()} name="create-list" submit>
          Create list
        </Action>
      </form>
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Lists.length ? (
              <table class="grid">
                <thead>
                  <tr>
                    <th>List</th>
                    <th>Subscribers</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.Lists as ListRow[]).map((l) => (
                    <tr key={l.ListID}>
                      <td data-label="List">
                        <a href={`#/lists/${l.ListID}`}>{l.Name}</a>
                        {l.Description ? <div class="hint">{l.Description}</div> : null}
                      </td>
                      <td data-label="Subscribers">{l.SubscriberCount}</td>
                      <td data-label="Created">{time(l.CreatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No lists yet.</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalListCount} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

function ListPage({ listId }: { listId: number }) {
  const list = useLoad(() => call('list.get', { ListID: listId }), [listId]);
  const fields = useLoad(
    async () => (await call('customfields.get', { ListID: listId })).CustomFields as { CustomFieldID: number; FieldName: string }[],
    [listId],
  );
  const search = usePagedSearch(SIZE);
  const { from, setFrom, term: applied } = search;
  const subs = useLoad(
    () => call('subscribers.get', { ListID: listId, RecordsPerRequest: SIZE, RecordsFrom: from, ...(applied ? { SearchKeyword: applied } : {}) }),
    [listId, applied, from],
  );
  const [email, setEmail] = useState('');
  const add = async () => {
    // Added by hand: no subscription IP is known, so the unspecified address says so.
    await call('subscriber.create', {
      ListID: listId,
      EmailAddress: email.trim(),
      Status: 'Subscribed',
      SubscriptionDate: nowText(),
      SubscriptionIP: '0.0.0.0',
      Source: 'console',
    });
    setEmail('');
    await subs.reload();
  };
  const names = new Map((fields.data ?? []).map((f) => [String(f.CustomFieldID), f.FieldName]));
  return (
    <section>
      <p>
        <a href="#/lists">← Lists</a>
      </p>
      <LoadState load={list}>
        {(l) => (
          <PageTitle
            actions={
              <>
                <a class="button" href={`#/campaigns?list=${listId}`} data-action="campaign-to-list">
                  New campaign to this list
                </a>{' '}
                <ConfirmAction
                  question="Delete the list and its subscribers?"
                  name="delete-list"
                  onRun={async () => {
                    await call('list.delete', { ListID: listId });
                    go('lists');
                  }}
                >
                  Delete list
                </ConfirmAction>
              </>
            }
          >
            {l.List.Name}
          </PageTitle>
        )}
      </LoadState>
      <div class="cols">
        <form class="card row" noValidate onSubmit={(e) => e.preventDefault()}>
          <Field label="Add a subscriber">
            <Input name="subscriber-email" type="email" value={email} onValue={setEmail} placeholder="jane@example.org" />
          </Field>
          <Action kind="primary" onRun={add} busyLabel="Adding…" disabled={!email.trim()} name="add-subscriber" submit>
            Add
          </Action>
        </form>
        <SearchForm label="Search" name="subscriber-search" search={search} />
      </div>
      <LoadState load={subs}>
        {(r) => (
          <>
            {r.Subscribers.length ? (
              <table class="grid" data-testid="subscribers">
                <thead>
                  <tr>
                    <th>Address</th>
                    <th>Status</th>
                    <th>Fields</th>
                    <th>Since</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {(r.Subscribers as Subscriber[]).map((s) => (
                    <tr key={s.SubscriberID} data-subscriber={s.EmailAddress}>
                      <td data-label="Address" class="wrap">
                        {s.EmailAddress} {s.Suppressed ? <span class="badge s-suppressed">suppressed</span> : null}
                      </td>
                      <td data-label="Status">
                        <StatusBadge status={s.SubscriptionStatus} />
                      </td>
                      <td data-label="Fields" class="wrap fields">
                        {Object.entries(s.CustomFields)
                          .filter(([, v]) => v !== '' && v !== null)
                          .map(([id, v]) => (
                            <div key={id}>
                              <span class="muted">{names.get(id) ?? `Field ${id}`}:</span> {v}
                            </div>
                          ))}
                      </td>
                      <td data-label="Since">{time(s.SubscriptionDate)}</td>
                      <td>
                        {s.SubscriptionStatus !== 'Unsubscribed' ? (
                          <Action
                            name="unsubscribe"
                            busyLabel="Unsubscribing…"
                            onRun={async () => {
                              await call('subscriber.update', { ListID: listId, SubscriberID: s.SubscriberID, SubscriptionStatus: 'Unsubscribed' });
                              await subs.reload();
                            }}
                          >
                            Unsubscribe
                          </Action>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">{applied ? 'No subscriber matches.' : 'No subscribers yet.'}</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalSubscribers} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

export function Lists({ listId }: { listId: number | null }) {
  return listId ? <ListPage listId={listId} key={listId} /> : <AllLists />;
}
