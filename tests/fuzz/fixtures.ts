import { createSession } from '../../src/auth/sessions';
import { Harness, senderSetup } from '../helpers/harness';

/**
 * A caller holding a valid credential of every auth kind (user session, user API key, sender key, admin key and
 * admin session) and one row of everything ids point at, so fuzzed requests get past authentication into
 * handlers. Fuzzed commands may revoke or delete any of it: `heal` checks and rebuilds.
 */
export interface Caller {
  sessionId: string;
  apiKey: string;
  senderKey: string;
  adminKey: string;
  adminSession: string;
  /** Values a `Ref` resolves to (see values.ts). */
  ids: Record<string, unknown>;
}

async function ok(r: Promise<any>, what: string): Promise<any> {
  const body = await r;
  if (!body?.Success) throw new Error(`fuzz fixture ${what} failed: ${JSON.stringify(body)}`);
  return body;
}

export async function makeCaller(h: Harness): Promise<Caller> {
  const s = await senderSetup(h);
  const as = (command: string, p: Record<string, unknown>) => ok(h.call({ Command: command, SessionID: s.sessionId, ...p }), command);
  const apiKey = await as('user.apikey.create', { Note: 'fuzz' });
  const smtp = await as('emailgateway.addsmtp', { DomainID: s.domainId });
  const list = await as('list.create', { SubscriberListName: 'Fuzz list' });
  const field = await as('customfield.create', { SubscriberListID: list.ListID, FieldName: 'City' });
  const sub = await as('subscriber.create', {
    ListID: list.ListID,
    EmailAddress: 'member@example.org',
    Status: 'Subscribed',
    SubscriptionDate: '2026-01-02 03:04:05',
    SubscriptionIP: '192.0.2.10',
  });
  const template = await as('email.template.create', { TemplateName: 'Fuzz', TemplateSubject: 'Hi', TemplateHTMLContent: '<p>Hi</p>' });
  const hook = await as('emailgateway.addwebhook', { DomainID: s.domainId, Event: 'delivery', WebhookURL: 'http://127.0.0.1:9/hook' });
  // Not through admin.login: fuzzed logins with wrong keys throttle it (its own tests cover it).
  const adminSession = await createSession(h.services.db, 'admin', Number((await h.services.db('admins').orderBy('id').first('id')).id));
  const sent = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'fixture', ContentType: 'plain', PlainContent: 'x', From: { email: `app@${s.domain}` }, To: [{ email: 'to@example.org' }] },
  });
  if (!sent.body.MessageID) throw new Error(`fuzz fixture send failed: ${JSON.stringify(sent.body)}`);
  const fromAddress = `app@${s.domain}`;
  return {
    sessionId: s.sessionId,
    apiKey: apiKey.APIKey.APIKey,
    senderKey: s.key,
    adminKey: h.adminKey,
    adminSession,
    ids: {
      userId: s.userId,
      domainId: s.domainId,
      apiKeyId: s.keyId,
      smtpId: smtp.NewSMTPID,
      smtpUser: smtp.SMTP.SMTPUsername,
      smtpPass: smtp.SMTP.SMTPPassword,
      listId: list.ListID,
      fieldId: field.CustomFieldID,
      subscriberId: sub.SubscriberInformation.SubscriberID,
      templateId: template.TemplateID,
      webhookId: hook.NewWebhookID,
      messageId: sent.body.MessageID,
      fromAddress,
      rawEmail: `From: App <${fromAddress}>\r\nTo: to@example.org\r\nCc: cc@example.org\r\nSubject: relayed\r\n\r\nbody\r\n`,
    },
  };
}

const works = (body: any) => Boolean(body?.Success);

/**
 * The caller with every credential working again. A fuzzed logout or key deletion costs a new session or key;
 * a deleted or disabled account or domain costs a whole new caller.
 */
export async function heal(h: Harness, c: Caller): Promise<Caller> {
  const [session, key, admin, sender] = await Promise.all([
    h.call({ Command: 'user.current', SessionID: c.sessionId }),
    h.call({ Command: 'user.current', APIKey: c.apiKey }),
    h.call({ Command: 'users.get', SessionID: c.adminSession }),
    h.request('GET', '/api/v1/stats', { headers: { Authorization: `Bearer ${c.senderKey}` } }),
  ]);
  if (works(session) && works(key) && works(admin) && sender.status === 200) return c;
  const db = h.services.db;
  const user = await db('users').where({ id: c.ids.userId }).first();
  const domain = await db('sender_domains').where({ id: c.ids.domainId, user_id: c.ids.userId, status: 'Enabled' }).first();
  if (!user || user.account_status !== 'Enabled' || !domain || (sender.status !== 200 && sender.status !== 401)) return makeCaller(h);
  const next = { ...c, ids: { ...c.ids } };
  if (!works(session)) next.sessionId = await createSession(db, 'user', Number(c.ids.userId));
  const as = (command: string, p: Record<string, unknown>) => ok(h.call({ Command: command, SessionID: next.sessionId, ...p }), command);
  if (!works(key)) next.apiKey = (await as('user.apikey.create', { Note: 'fuzz' })).APIKey.APIKey;
  if (!works(admin)) next.adminSession = await createSession(db, 'admin', Number((await db('admins').orderBy('id').first('id')).id));
  if (sender.status !== 200) {
    const k = await as('emailgateway.addapi', { DomainID: c.ids.domainId, Description: 'fuzz' });
    next.senderKey = k.APIKey.APIKey;
    next.ids.apiKeyId = k.NewAPIKeyID;
  }
  return next;
}
