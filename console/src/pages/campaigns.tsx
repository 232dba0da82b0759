import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { go, useRoute } from '../router';
import { Action, ConfirmAction, Field, Input, LoadState, Notice, PageTitle, Pager, RefreshButton, StatusBadge, time, useLoad } from '../ui';
import { usePagedSearch } from '../url-state';
import { MailPreview } from '../preview';

/** Campaigns: write one from a list and a template (or content written here), launch it, watch it go out, cancel. */

interface Progress {
  Recipients: number;
  Queued: number;
  /** Members the send path refused one by one at their page (suppressed since the launch). */
  Skipped: number;
  Sent: number;
  /** Copies cancelled before they were sent: they never get an answer. */
  Cancelled: number;
  Delivered: number;
  Bounced: number;
  Opened: number;
  Clicked: number;
}

interface Campaign {
  CampaignID: number;
  CampaignName: string;
  Subject: string;
  ListID: number | null;
  FromEmail: string | null;
  FromName: string;
  HTMLContent: string | null;
  PlainContent: string | null;
  Status: string;
  Error: string | null;
  CreatedAt: string;
  LaunchedAt: string | null;
  CompletedAt: string | null;
  Progress: Progress;
}

const SIZE = 25;
/** The pickers offer this many lists and templates; a user with more types the name to narrow them. */
const PICK = 100;
const FIGURES: (keyof Progress)[] = ['Recipients', 'Queued', 'Skipped', 'Sent', 'Cancelled', 'Delivered', 'Bounced', 'Opened', 'Clicked'];

/**
 * Still moving: pages being queued, or queued mail neither answered by the receiving servers nor cancelled. A
 * cancelled copy never gets an answer: counted only in Sent, one kept a finished campaign's page asking every few
 * seconds for as long as it stayed open.
 */
const moving = (c: Campaign) => c.Status === 'sending' || (c.Status === 'completed' && c.Progress.Sent + c.Progress.Cancelled < c.Progress.Queued);

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '—';
}

function NewCampaign({ listId }: { listId: string }) {
  const [name, setName] = useState('');
  const [list, setList] = useState(listId);
  const [source, setSource] = useState<'template' | 'write'>('template');
  const [template, setTemplate] = useState('');
  const [subject, setSubject] = useState('');
  const [html, setHtml] = useState('');
  const [from, setFrom] = useState('');
  const [lookup, setLookup] = useState('');
  const lists = useLoad(
    async () =>
      (await call('lists.get', { RecordsPerRequest: PICK, RecordsFrom: 0, ...(lookup ? { Search: lookup } : {}) })).Lists as {
        ListID: number;
        Name: string;
        SubscriberCount: number;
      }[],
    [lookup],
  );
  const templates = useLoad(
    async () => (await call('email.templates.get', { RecordsPerRequest: PICK, RecordsFrom: 0 })).Templates as { TemplateID: number; TemplateName: string }[],
    [],
  );
  // Without templates there is nothing to pick: offer the editor instead.
  useEffect(() => {
    if (templates.data && !templates.data.length) setSource('write');
  }, [templates.data]);
  const create = async () => {
    const params: Record<string, unknown> = {
      CampaignName: name.trim(),
      ListID: list ? Number(list) : undefined,
      FromEmail: from.trim() || undefined,
      Subject: subject,
    };
    if (source === 'template' && template) params.TemplateID = Number(template);
    if (source === 'write') params.HTMLContent = html;
    const r = await call('campaign.create', params);
    go(`campaigns/${r.CampaignID}`);
  };
  return (
    <form class="card" noValidate onSubmit={(e) => e.preventDefault()} data-testid="new-campaign">
      <h2>New campaign</h2>
      <div class="form-grid">
        <Field label="Name">
          <Input name="campaign-name" value={name} onValue={setName} placeholder="March newsletter" />
        </Field>
        <Field label="List" hint={lists.data && lists.data.length >= PICK ? 'Showing the first 100: type below to narrow.' : undefined}>
          <select name="campaign-list" value={list} onChange={(e) => setList((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{lists.loading ? 'Loading lists…' : 'Pick a list'}</option>
            {(lists.data ?? []).map((l) => (
              <option key={l.ListID} value={String(l.ListID)}>
                {l.Name} ({l.SubscriberCount})
              </option>
            ))}
          </select>
        </Field>
        {/* Kept while a search is typed: a narrowed picker has fewer than PICK lists, and the box must stay to change it. */}
        {lookup || (lists.data && lists.data.length >= PICK) ? (
          <Field label="Find a list">
            {/* It narrows as it is typed: Enter here must not create the draft (the form's submit button). */}
            <Input name="campaign-list-search" type="search" value={lookup} onValue={setLookup} noSubmit />
          </Field>
        ) : null}
        <Field label="From (optional)" hint="Else the list's sender, else noreply@ your first Enabled domain.">
          <Input name="campaign-from" type="email" value={from} onValue={setFrom} placeholder="news@example.com" />
        </Field>
      </div>
      {lists.error || templates.error ? (
        <p class="error" role="alert">
          {lists.error ?? templates.error}
        </p>
      ) : null}
      <fieldset class="choice">
        <legend>Content</legend>
        <label class="check">
          <input type="radio" name="campaign-source" value="template" checked={source === 'template'} onChange={() => setSource('template')} /> From a template
        </label>
        <label class="check">
          <input type="radio" name="campaign-source" value="write" checked={source === 'write'} onChange={() => setSource('write')} /> Write it here
        </label>
      </fieldset>
      {source === 'template' ? (
        <Field label="Template" hint="The campaign keeps a copy: editing the template later does not change it.">
          <select name="campaign-template" value={template} onChange={(e) => setTemplate((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{templates.loading ? 'Loading templates…' : 'Pick a template'}</option>
            {(templates.data ?? []).map((t) => (
              <option key={t.TemplateID} value={String(t.TemplateID)}>
                {t.TemplateName}
              </option>
            ))}
          </select>
        </Field>
      ) : null}
      <Field label={source === 'template' ? 'Subject (optional: else the template’s)' : 'Subject'}>
        <Input name="campaign-subject" value={subject} onValue={setSubject} placeholder='News for {{ Subscriber:FirstName|"you" }}' />
      </Field>
      {source === 'write' ? (
        <Field label="HTML">
          <textarea name="campaign-html" rows={8} value={html} onInput={(e) => setHtml((e.currentTarget as HTMLTextAreaElement).value)} />
        </Field>
      ) : null}
      <Action kind="primary" onRun={create} busyLabel="Creating…" disabled={!name.trim()} name="create-campaign" submit>
        Create draft
      </Action>
    </form>
  );
}

function AllCampaigns() {
  const route = useRoute();
  const { from, setFrom } = usePagedSearch(SIZE);
  const load = useLoad(() => call('campaigns.get', { RecordsPerRequest: SIZE, RecordsFrom: from, IncludeContent: 0 }), [from]);
  const any = !!load.data && (load.data.Campaigns as Campaign[]).some(moving);
  useEffect(() => {
    if (!any) return;
    const t = setInterval(() => void load.reload(), 3000);
    return () => clearInterval(t);
  }, [any, load.reload]);
  return (
    <section>
      <PageTitle actions={<RefreshButton load={load} />}>Campaigns</PageTitle>
      <NewCampaign listId={route.query.get('list') ?? ''} />
      <LoadState load={load}>
        {(r) => (
          <>
            {r.Campaigns.length ? (
              <table class="grid" data-testid="campaigns">
                <thead>
                  <tr>
                    <th>Campaign</th>
                    <th>Status</th>
                    <th>Recipients</th>
                    <th>Delivered</th>
                    <th>Opened</th>
                    <th>Clicked</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  {(r.Campaigns as Campaign[]).map((c) => (
                    <tr key={c.CampaignID} data-campaign={c.CampaignName}>
                      <td data-label="Campaign" class="wrap">
                        <a href={`#/campaigns/${c.CampaignID}`}>{c.CampaignName}</a>
                        {c.Subject ? <div class="hint">{c.Subject}</div> : null}
                      </td>
                      <td data-label="Status">
                        <StatusBadge status={c.Status} />
                      </td>
                      <td data-label="Recipients">{c.Progress.Recipients}</td>
                      <td data-label="Delivered">{c.Progress.Delivered}</td>
                      <td data-label="Opened">{c.Progress.Opened}</td>
                      <td data-label="Clicked">{c.Progress.Clicked}</td>
                      <td data-label="Created">{time(c.CreatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No campaigns yet: write one above from a list and a template.</p>
            )}
            <Pager from={from} size={SIZE} total={r.TotalCampaigns} onFrom={setFrom} />
          </>
        )}
      </LoadState>
    </section>
  );
}

/** The live figures: each a tile; the bar is how much of the list has an answer from the receiving servers. */
function ProgressView({ c }: { c: Campaign }) {
  const p = c.Progress;
  return (
    <div class="card">
      <h2>Progress</h2>
      <progress max={Math.max(p.Recipients, 1)} value={p.Sent} aria-label="Sent of recipients" />
      <p class="muted">
        {p.Sent} of {p.Recipients} answered ({percent(p.Sent, p.Recipients)}) · opened {percent(p.Opened, p.Delivered)} · clicked{' '}
        {percent(p.Clicked, p.Delivered)} of delivered
      </p>
      <div class="figures">
        {FIGURES.map((f) => (
          <div class="figure" key={f} data-figure={f}>
            <span class="value">{p[f]}</span>
            <span class="label">{f}</span>
          </div>
        ))}
      </div>
    </div>
  );
}

function CampaignPage({ id }: { id: number }) {
  const load = useLoad(async () => (await call('campaign.get', { CampaignID: id })).Campaign as Campaign, [id]);
  const list = useLoad(
    async () => (load.data?.ListID ? ((await call('list.get', { ListID: load.data.ListID })).List as { Name: string }) : null),
    [load.data?.ListID],
  );
  const live = !!load.data && moving(load.data);
  // While it is going out, look again every two seconds.
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => void load.reload(), 2000);
    return () => clearInterval(t);
  }, [live, load.reload]);
  return (
    <section>
      <p>
        <a href="#/campaigns">← Campaigns</a>
      </p>
      <LoadState load={load}>
        {(c) => (
          <>
            <PageTitle
              actions={
                <>
                  {c.Status === 'draft' || c.Status === 'failed' ? (
                    // A failed campaign is resumed by the same command: it goes on from where it stopped.
                    <Action
                      kind="primary"
                      name={c.Status === 'draft' ? 'launch-campaign' : 'resume-campaign'}
                      busyLabel={c.Status === 'draft' ? 'Launching…' : 'Resuming…'}
                      onRun={async () => {
                        await call('campaign.launch', { CampaignID: id });
                        await load.reload();
                      }}
                    >
                      {c.Status === 'draft' ? 'Launch' : 'Resume'}
                    </Action>
                  ) : null}{' '}
                  {c.Status === 'draft' || c.Status === 'sending' ? (
                    <ConfirmAction
                      question={c.Status === 'draft' ? 'Cancel this draft?' : 'Stop sending? Mail not sent yet is cancelled.'}
                      name="cancel-campaign"
                      confirmLabel="Yes, cancel"
                      busyLabel="Cancelling…"
                      onRun={async () => {
                        await call('campaign.cancel', { CampaignID: id });
                        await load.reload();
                      }}
                    >
                      Cancel campaign
                    </ConfirmAction>
                  ) : null}{' '}
                  <RefreshButton load={load} />
                </>
              }
            >
              {c.CampaignName}
            </PageTitle>
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <StatusBadge status={c.Status} /> {live ? <span class="muted">(updating…)</span> : null}
              </dd>
              <dt>List</dt>
              <dd>
                {c.ListID ? (
                  <a href={`#/lists/${c.ListID}`}>{list.data?.Name ?? `List ${c.ListID}`}</a>
                ) : (
                  <span class="muted">none: the campaign cannot be launched without one</span>
                )}
              </dd>
              <dt>From</dt>
              <dd>
                {c.FromEmail ? (
                  `${c.FromName ? `${c.FromName} ` : ''}<${c.FromEmail}>`
                ) : (
                  <span class="muted">the list's sender, else noreply@ your first Enabled domain</span>
                )}
              </dd>
              <dt>Subject</dt>
              <dd>{c.Subject || <span class="muted">(none)</span>}</dd>
              <dt>Created</dt>
              <dd>{time(c.CreatedAt)}</dd>
              {c.LaunchedAt ? (
                <>
                  <dt>Launched</dt>
                  <dd>{time(c.LaunchedAt)}</dd>
                </>
              ) : null}
              {c.CompletedAt ? (
                <>
                  <dt>{c.Status === 'cancelled' ? 'Cancelled' : 'Finished'}</dt>
                  <dd>{time(c.CompletedAt)}</dd>
                </>
              ) : null}
            </dl>
            {c.Error ? (
              <p class="error" role="alert">
                {c.Error}
              </p>
            ) : null}
            {c.Status === 'draft' ? <Notice>A draft: nothing is sent until you launch it.</Notice> : null}
            {c.Status === 'failed' ? (
              <Notice>It stopped before the end of its list. Once the cause is gone, Resume goes on from where it stopped: nobody gets it twice.</Notice>
            ) : null}
            <div class="cols">
              <ProgressView c={c} />
              <div class="card">
                <h2>Content</h2>
                {c.HTMLContent ? (
                  <MailPreview title="Campaign preview" html={c.HTMLContent} />
                ) : c.PlainContent ? (
                  <pre class="raw">{c.PlainContent}</pre>
                ) : (
                  <p class="muted">No content: the campaign cannot be launched without it.</p>
                )}
              </div>
            </div>
          </>
        )}
      </LoadState>
    </section>
  );
}

export function Campaigns({ campaignId }: { campaignId: number | null }) {
  return campaignId ? <CampaignPage id={campaignId} key={campaignId} /> : <AllCampaigns />;
}
