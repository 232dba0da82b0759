import type { Knex } from 'knex';

/**
 * What every bench needs before it can send: a user, its enabled sender domains and a sender API key, made through
 * the gateway's own commands (POST /api.php), the way a customer sets up. One place for bench:send, bench:single-ab,
 * bench:log and bench:stats.
 */

/** One legacy command; the parsed reply. */
export type LegacyCall = (params: Record<string, unknown>) => Promise<any>;

/** A legacy caller for a gateway listening on 127.0.0.1:`port`. */
export function legacyApi(port: number): LegacyCall {
  return async (params) => {
    const res = await fetch(`http://127.0.0.1:${port}/api.php`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    return res.json();
  };
}

/** Waits until 127.0.0.1:`port` answers /healthz (two minutes: a fresh api on a loaded machine migrates first). */
export async function healthy(port: number): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing healthy on port ${port}`);
}

export interface BenchSender {
  session: string;
  userId: number;
  /** In the order of `domains`. */
  domainIds: number[];
  /** A sender key of the first domain. */
  key: string;
}

/**
 * Creates the bench user (unless `reuse`: a kept database already has it, and its domains), logs in, adds the
 * domains, enables them (directly in `db`: DNS verification is not what a bench measures) and adds a sender key.
 */
export async function setupSender(call: LegacyCall, o: { adminKey: string; db: Knex; domains: string[]; reuse?: boolean }): Promise<BenchSender> {
  const must = async (params: Record<string, unknown>) => {
    const body = await call(params);
    if (body?.Success === false) throw new Error(`${String(params.Command)} failed: ${JSON.stringify(body)}`);
    return body;
  };
  if (!o.reuse)
    await must({
      Command: 'user.create',
      AdminAPIKey: o.adminKey,
      RelUserGroupID: 1,
      EmailAddress: 'bench@example.com',
      Username: 'bench',
      Password: 'benchmark-password',
      FirstName: 'Bench',
      TimeZone: 'UTC',
      Language: 'en',
    });
  const login = await must({ Command: 'user.login', Username: 'bench', Password: 'benchmark-password' });
  const session = login.SessionID as string;
  const domainIds: number[] = [];
  if (o.reuse) domainIds.push(...(await must({ Command: 'emailgateway.getdomains', SessionID: session })).Domains.map((d: { DomainID: number }) => d.DomainID));
  else
    for (const name of o.domains) domainIds.push((await must({ Command: 'emailgateway.adddomain', SessionID: session, DomainName: name })).NewSenderDomainID);
  await o.db('sender_domains').whereIn('id', domainIds).update({ status: 'Enabled' });
  const key = (await must({ Command: 'emailgateway.addapi', SessionID: session, DomainID: domainIds[0], Description: 'bench' })).APIKey.APIKey as string;
  return { session, userId: Number(login.UserInfo.UserID), domainIds, key };
}

/** The message bench:send and bench:single-ab send: HTML and text, one recipient `r<i>@sink.test`, one tag. */
export function benchMessage(domain: string, i: number) {
  return {
    Subject: `Benchmark message ${i}`,
    ContentType: 'html',
    HTMLContent: `<h1>Hello</h1><p>${'Benchmark body text. '.repeat(40)}</p>`,
    PlainContent: 'Hello. '.repeat(40),
    From: { name: 'Bench', email: `bench@${domain}` },
    To: [{ name: 'Recipient', email: `r${i}@sink.test` }],
    Tags: ['bench'],
  };
}
