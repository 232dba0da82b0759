import { useState } from 'preact/hooks';
import { call } from '../api';
import { Action, ConfirmAction, DomainPicker, Field, Input, LoadState, Notice, PageTitle, Pager, SearchForm, time, useDomains, useLoad } from '../ui';
import { NUMBER, PagedSearch, usePagedSearch } from '../url-state';

interface Suppression {
  SuppressionID: number;
  EmailAddress: string;
  Reason: string;
  Detail: string;
  CreatedAt: string;
}

const SIZE = 25;

/** `suspended`: the gateway refuses removals then (code 7), so the page offers none and says why. */
function List({ domainId, search, suspended }: { domainId: number; search: PagedSearch; suspended: boolean }) {
  const { from, setFrom, term: applied } = search;
  const [email, setEmail] = useState('');
  const load = useLoad(
    () => call('emailgateway.getsuppressions', { DomainID: domainId, StartFrom: from, RetrieveCount: SIZE, ...(applied ? { Query: applied } : {}) }),
    [domainId, applied, from],
  );
  const add = async () => {
    await call('emailgateway.addsuppression', { DomainID: domainId, EmailAddress: email.trim(), Detail: 'added in the console' });
    setEmail('');
    await load.reload();
  };
  return (
    <>
      <div class="cols">
        <form class="card row" noValidate onSubmit={(e) => e.preventDefault()}>
          <Field label="Suppress an address" hint="Mail to it from this domain is dropped until you remove it.">
            <Input name="suppress-email" type="email" value={email} onValue={setEmail} placeholder="someone@example.org" />
          </Field>
          <Action kind="primary" onRun={add} busyLabel="Adding…" disabled={!email.trim()} name="add-suppression" submit>
            Add
          </Action>
        </form>
        <SearchForm label="Search" name="suppression-search" placeholder="part of an address" search={search} />
      </div>
      {suspended ? (
        <Notice>
          <span data-testid="suspended-suppressions">
            This domain is suspended: addresses can be added to its list but not removed until the installation’s admin lifts the suspension.
          </span>
        </Notice>
      ) : null}
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Suppressions.length ? (
              <table class="grid" data-testid="suppressions">
                <thead>
                  <tr>
                    <th>Address</th>
                    <th>Reason</th>
                    <th>Detail</th>
                    <th>Since</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {(r.Suppressions as Suppression[]).map((s) => (
                    <tr key={s.SuppressionID} data-email={s.EmailAddress}>
                      <td data-label="Address" class="wrap">
                        {s.EmailAddress}
                      </td>
                      <td data-label="Reason">{s.Reason}</td>
                      <td data-label="Detail" class="wrap">
                        {s.Detail}
                      </td>
                      <td data-label="Since">{time(s.CreatedAt)}</td>
                      <td>
                        {suspended ? null : (
                          <ConfirmAction
                            question="Remove? Mail to it will be sent again."
                            name="remove-suppression"
                            onRun={async () => {
                              await call('emailgateway.deletesuppression', { DomainID: domainId, EmailAddress: s.EmailAddress });
                              await load.reload();
                            }}
                          >
                            Remove
                          </ConfirmAction>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">{applied ? 'No suppressed address matches.' : 'No suppressed addresses.'}</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalRecords} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </>
  );
}

interface Kept {
  Domain: string;
  EmailAddress: string;
  Reason: string;
  Detail: string;
  CreatedAt: string;
  RetainedAt: string;
}

/**
 * What deleted domains kept (restored if the name is added again): shown only when there is some, so the owner can
 * see it and forget an address (an erasure request, an unsubscribe recorded in error). Paged locally, not in the URL.
 */
function KeptFromDeleted() {
  const [from, setFrom] = useState(0);
  const load = useLoad(() => call('emailgateway.getretainedsuppressions', { StartFrom: from, RetrieveCount: SIZE }), [from]);
  if (!load.data?.TotalRecords && !load.error) return null;
  return (
    <section class="card" data-testid="kept-suppressions">
      <h2>Kept from deleted domains</h2>
      <p class="muted">These come back if you add the domain again. Forget an address to mail it from that domain again.</p>
      <LoadState load={load}>
        {(r) => (
          <>
            <table class="grid">
              <thead>
                <tr>
                  <th>Domain</th>
                  <th>Address</th>
                  <th>Reason</th>
                  <th>Detail</th>
                  <th>Since</th>
                  <th>Kept since</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {(r.Suppressions as Kept[]).map((k) => (
                  <tr key={`${k.Domain} ${k.EmailAddress}`} data-email={k.EmailAddress} data-domain={k.Domain}>
                    <td data-label="Domain" class="wrap">
                      {k.Domain}
                    </td>
                    <td data-label="Address" class="wrap">
                      {k.EmailAddress}
                    </td>
                    <td data-label="Reason">{k.Reason}</td>
                    <td data-label="Detail" class="wrap">
                      {k.Detail}
                    </td>
                    <td data-label="Since">{time(k.CreatedAt)}</td>
                    <td data-label="Kept since">{time(k.RetainedAt)}</td>
                    <td>
                      <ConfirmAction
                        question={`Forget? If ${k.Domain} is added again, mail to this address will be sent.`}
                        name="forget-kept"
                        confirmLabel="Forget"
                        onRun={async () => {
                          await call('emailgateway.deleteretainedsuppression', { Domain: k.Domain, EmailAddress: k.EmailAddress });
                          if (from && r.Suppressions.length === 1) setFrom(Math.max(0, from - SIZE));
                          else await load.reload();
                        }}
                      >
                        Forget
                      </ConfirmAction>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager from={from} size={SIZE} total={r.TotalRecords} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

/** The suppression list of one domain: hard bounces, complaints, unsubscribes and manual entries. */
export function Suppressions() {
  const { load, selected: remembered, select } = useDomains();
  // The domain in the address (a shared link) wins over the one remembered for the tab, if it is one of yours.
  const search = usePagedSearch(SIZE, { domain: NUMBER });
  const asked = Number(search.applied.domain);
  const selected = (load.data ?? []).some((d) => d.DomainID === asked) ? asked : remembered;
  const pick = (id: number) => {
    select(id);
    search.push({ domain: String(id), q: '' }); // another domain's list, unfiltered
  };
  return (
    <section>
      <PageTitle>Suppressions</PageTitle>
      <LoadState load={load}>
        {(domains) => (
          <>
            <DomainPicker domains={domains} selected={selected} onSelect={pick} />
            {selected ? (
              <List domainId={selected} search={search} key={selected} suspended={domains.some((d) => d.DomainID === selected && d.Status === 'Suspended')} />
            ) : null}
          </>
        )}
      </LoadState>
      <KeptFromDeleted />
    </section>
  );
}
