import { useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { call } from '../api';
import { bars, Chart, SERIES_COLORS, utc } from '../chart';
import { DomainPicker, Field, LoadState, PageTitle, useDomains, useLoad } from '../ui';

type Figures = { Sent: number; Delivered: number; Bounced: number; Opened: number; Clicked: number };
const KEYS = ['Sent', 'Delivered', 'Bounced', 'Opened', 'Clicked'] as const;
/** Message counts are whole: the y axis steps by 1, 2, 5, 10, … */
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

function Daily({ domainId, days }: { domainId: number; days: number }) {
  const start = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const load = useLoad(() => call('emailgateway.dailystats', { DomainID: domainId, StartDate: start }), [domainId, days]);
  const chart = useMemo(() => {
    const rows = (load.data?.Days ?? []) as ({ Date: string } & Figures)[];
    const data: uPlot.AlignedData = [rows.map((r) => Date.parse(`${r.Date}T00:00:00Z`) / 1000), ...KEYS.map((k) => rows.map((r) => r[k]))];
    const options: Omit<uPlot.Options, 'width' | 'height'> = {
      tzDate: utc,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        { label: 'Day', value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
        ...KEYS.map((k) => ({ label: k, stroke: SERIES_COLORS[k], width: 2, points: { show: true } })),
      ],
      axes: [{}, { size: 50, incrs: COUNT_STEPS }],
    };
    return { data, options };
  }, [load.data]);
  return (
    <div class="card">
      <h2>Per day</h2>
      <LoadState load={load}>{() => <Chart options={chart.options} data={chart.data} label="Messages per day" />}</LoadState>
    </div>
  );
}

function Comparison({ domainId, days }: { domainId: number; days: number }) {
  const start = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const load = useLoad(() => call('emailgateway.domainstats', { DomainID: domainId, StartDate: start }), [domainId, days]);
  return (
    <div class="card">
      <h2>This period and the one before</h2>
      <LoadState load={load}>
        {(r) => (
          <table class="grid compact">
            <thead>
              <tr>
                <th />
                {KEYS.map((k) => (
                  <th key={k}>{k}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {[
                ['Last ' + days + ' days', r.Stats],
                ['The ' + days + ' days before', r.ComparisonStats.PreviousPeriod],
              ].map(([label, f]) => (
                <tr key={label as string}>
                  <th>{label as string}</th>
                  {KEYS.map((k) => (
                    <td key={k} data-label={k}>
                      {(f as Figures)[k]}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </LoadState>
    </div>
  );
}

interface RecipientDomain {
  Domain: string;
  Sent: number;
  Failed: number;
  Sending: number;
  AvgDeliverySec: number | null;
}

function Histogram({ domainId, recipientDomain }: { domainId: number; recipientDomain: string }) {
  const load = useLoad(
    () => call('emailgateway.recipientdomainstats', { DomainID: domainId, RecipientToDomain: recipientDomain }),
    [domainId, recipientDomain],
  );
  const chart = useMemo(() => {
    // The contract's eight buckets; the reply lists only those holding mail.
    const names = ['< 1s', '1-5s', '5-10s', '10-30s', '30-60s', '1-5m', '5-10m', '> 10m'];
    const got = (load.data?.DeliverySpeedHistogram?.Sent ?? []) as { DeliveryBucket: string; EmailCount: number }[];
    const counts = names.map((n) => got.find((b) => b.DeliveryBucket === n)?.EmailCount ?? 0);
    const data: uPlot.AlignedData = [names.map((_, i) => i), counts];
    const options: Omit<uPlot.Options, 'width' | 'height'> = {
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        { label: 'Speed', value: (_u, v) => names[v] ?? '' },
        { label: 'Delivered', fill: SERIES_COLORS.Delivered, stroke: SERIES_COLORS.Delivered, paths: bars(), points: { show: false } },
      ],
      axes: [{ values: (_u, splits) => splits.map((i) => names[i] ?? '') }, { size: 50, incrs: COUNT_STEPS }],
    };
    return { data, options };
  }, [load.data]);
  return (
    <LoadState load={load}>
      {(r) => (
        <>
          <p class="muted">
            {(r.SummaryStats as { Status: string; TotalEmails: number; AvgDeliverySeconds: number | null }[])
              .map((s) => `${s.Status}: ${s.TotalEmails}${s.AvgDeliverySeconds !== null ? ` (avg ${s.AvgDeliverySeconds} s)` : ''}`)
              .join(' · ')}
          </p>
          <Chart options={chart.options} data={chart.data} label={`Delivery speed to ${recipientDomain}`} />
        </>
      )}
    </LoadState>
  );
}

function RecipientDomains({ domainId, days }: { domainId: number; days: number }) {
  const start = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const load = useLoad(
    async () => (await call('emailgateway.listrecipientdomains', { DomainID: domainId, StartDate: start, Limit: 10 })).RecipientDomains as RecipientDomain[],
    [domainId, days],
  );
  const [picked, setPicked] = useState<string | null>(null);
  const rows = load.data ?? [];
  const shown = picked && rows.some((r) => r.Domain === picked) ? picked : (rows[0]?.Domain ?? null);
  return (
    <div class="cols">
      <div class="card">
        <h2>Top recipient domains</h2>
        <LoadState load={load}>
          {(list) =>
            list.length ? (
              <table class="grid compact">
                <thead>
                  <tr>
                    <th>Domain</th>
                    <th>Delivered</th>
                    <th>Failed</th>
                    <th>In flight</th>
                    <th>Avg s</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((r) => (
                    <tr key={r.Domain} class={r.Domain === shown ? 'picked' : ''}>
                      <td data-label="Domain">
                        <button type="button" class="link" onClick={() => setPicked(r.Domain)}>
                          {r.Domain}
                        </button>
                      </td>
                      <td data-label="Delivered">{r.Sent}</td>
                      <td data-label="Failed">{r.Failed}</td>
                      <td data-label="In flight">{r.Sending}</td>
                      <td data-label="Avg s">{r.AvgDeliverySec ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No mail in this period.</p>
            )
          }
        </LoadState>
      </div>
      <div class="card">
        <h2>Delivery speed{shown ? ` to ${shown}` : ''}</h2>
        {shown ? <Histogram domainId={domainId} recipientDomain={shown} key={shown} /> : <p class="muted">Nothing delivered in this period.</p>}
      </div>
    </div>
  );
}

/** Statistics of one domain: the daily chart, the period comparison, recipient domains and delivery speed. */
export function Stats() {
  const { load, selected, select } = useDomains();
  const [days, setDays] = useState(30);
  return (
    <section>
      <PageTitle>Statistics</PageTitle>
      <LoadState load={load}>
        {(domains) => (
          <>
            <div class="row">
              <DomainPicker domains={domains} selected={selected} onSelect={select} />
              <Field label="Period">
                <select name="days" value={String(days)} onChange={(e) => setDays(Number((e.currentTarget as HTMLSelectElement).value))}>
                  {[7, 30, 90].map((d) => (
                    <option key={d} value={String(d)}>
                      Last {d} days
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            {selected ? (
              <>
                <Daily domainId={selected} days={days} />
                <Comparison domainId={selected} days={days} />
                <RecipientDomains domainId={selected} days={days} />
              </>
            ) : null}
          </>
        )}
      </LoadState>
    </section>
  );
}
