import type { Knex } from 'knex';
import { addDomain, createUser, Harness, uniqueDomain } from '../helpers/harness';

export interface Owner {
  userId: number;
  sessionId: string;
}

/** A fresh user with a session. */
export async function owner(h: Harness): Promise<Owner> {
  const u = await createUser(h);
  return { userId: u.userId, sessionId: u.sessionId };
}

/** Runs a command as the owner (SessionID) and returns the reply body. */
export function as(h: Harness, o: Owner) {
  return (command: string, params: Record<string, unknown> = {}) => h.call({ Command: command, SessionID: o.sessionId, ...params });
}

export async function makeList(h: Harness, o: Owner, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await as(h, o)('list.create', { SubscriberListName: 'Newsletter', ...extra });
  if (!r.Success) throw new Error(`list.create failed: ${JSON.stringify(r)}`);
  return r.ListID;
}

export async function makeField(h: Harness, o: Owner, listId: number, name: string, alias?: string, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await as(h, o)('customfield.create', { SubscriberListID: listId, FieldName: name, ...(alias ? { MergeTagAlias: alias } : {}), ...extra });
  if (!r.Success) throw new Error(`customfield.create failed: ${JSON.stringify(r)}`);
  return r.CustomFieldID;
}

export const SUBSCRIBED = { Status: 'Subscribed', SubscriptionDate: '2026-01-02 03:04:05', SubscriptionIP: '192.0.2.10' };

export async function addSubscriber(h: Harness, o: Owner, listId: number, email: string, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await as(h, o)('subscriber.create', { ListID: listId, EmailAddress: email, ...SUBSCRIBED, ...extra });
  if (!r.Success) throw new Error(`subscriber.create failed: ${JSON.stringify(r)}`);
  return r.SubscriberInformation.SubscriberID;
}

/** Puts an address on the suppression list of a new sender domain of the owner; returns the domain id. */
export async function suppress(h: Harness, o: Owner, email: string, domainId?: number): Promise<number> {
  const id = domainId ?? (await addDomain(h, o.sessionId, uniqueDomain('lists')));
  const r = await as(h, o)('emailgateway.addsuppression', { DomainID: id, EmailAddress: email });
  if (!r.Success) throw new Error(`addsuppression failed: ${JSON.stringify(r)}`);
  return id;
}

/** A user API key limited to some permissions. */
export async function keyWith(h: Harness, o: Owner, permissions: string): Promise<string> {
  const r = await as(h, o)('user.apikey.create', { Note: 'limited', Permissions: permissions });
  if (!r.Success) throw new Error(`user.apikey.create failed: ${JSON.stringify(r)}`);
  return r.APIKey.APIKey;
}

/**
 * `count` subscribed members `<prefix><n>@<host>` written straight to the table, 200 rows a statement (SQLite takes at
 * most 500 terms in one insert): for tests whose subject is what happens to a long list, not how members are added.
 */
export async function bulkSubscribers(db: Knex, listId: number, count: number, prefix: string, host: string): Promise<void> {
  const now = Date.now();
  for (let i = 0; i < count; i += 200) {
    await db('subscribers').insert(
      Array.from({ length: Math.min(200, count - i) }, (_, j) => ({
        list_id: listId,
        email: `${prefix}${i + j}@${host}`,
        status: 'Subscribed',
        subscription_date: now,
        source: 'API',
        created_at: now,
        updated_at: now,
      })),
    );
  }
}
