import { useState } from 'preact/hooks';
import { call } from '../api';
import { go } from '../router';
import { Action, Field, Input, LoadState, PageTitle, StatusBadge, time, useLoad } from '../ui';

interface DomainRow {
  DomainID: number;
  SenderDomain: string;
  Status: string;
  /** When a deletion of it began that did not finish; null otherwise. */
  DeletionStartedAt?: string | null;
  CreatedAt: string;
  APIKeyCount?: number;
  SMTPCount?: number;
}

/** Domains: the list with status and credential counts, and adding one (its DNS records come next). */
export function Domains() {
  const load = useLoad(async () => (await call('emailgateway.getdomains', { WithCounts: 1 })).Domains as DomainRow[], []);
  const [name, setName] = useState('');
  const add = async () => {
    const r = await call('emailgateway.adddomain', { DomainName: name.trim() });
    go(`domains/${r.NewSenderDomainID}`);
  };
  return (
    <section>
      <PageTitle>Domains</PageTitle>
      <form
        class="card row"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <Field label="Add a sender domain" hint="The domain your From addresses use, e.g. example.com. You will get the DNS records to publish.">
          <Input name="domainname" placeholder="example.com" value={name} onValue={setName} />
        </Field>
        <Action kind="primary" onRun={add} busyLabel="Adding…" disabled={!name.trim()} name="add-domain" submit>
          Add domain
        </Action>
      </form>
      <LoadState load={load}>
        {(rows) =>
          rows.length ? (
            <table class="grid">
              <thead>
                <tr>
                  <th>Domain</th>
                  <th>Status</th>
                  <th>API keys</th>
                  <th>SMTP</th>
                  <th>Added</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((d) => (
                  <tr key={d.DomainID}>
                    <td data-label="Domain">
                      <a href={`#/domains/${d.DomainID}`}>{d.SenderDomain}</a>
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={d.DeletionStartedAt ? 'Being deleted' : d.Status} />
                    </td>
                    <td data-label="API keys">{d.APIKeyCount ?? 0}</td>
                    <td data-label="SMTP">{d.SMTPCount ?? 0}</td>
                    <td data-label="Added">{time(d.CreatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <div class="card">
              <h2>Getting started</h2>
              <ol>
                <li>Add the domain your From addresses use (above).</li>
                <li>Publish the DNS records its page lists (copy buttons beside each), then press Verify now.</li>
                <li>Once it is Enabled, create an API key or SMTP login on the Credentials page.</li>
                <li>Send a test email from the domain's page and follow it in Messages.</li>
              </ol>
            </div>
          )
        }
      </LoadState>
    </section>
  );
}
