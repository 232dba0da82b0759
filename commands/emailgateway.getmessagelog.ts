/**
 * emailgateway.getmessagelog — the caller's message log, newest first, for a session or user API key (the
 * sender-key getmessages sees one domain). DomainID (absent or 0 = every domain of yours), Recipient (an
 * exact address, any case), Status (of any recipient), Tag, StartDate/EndDate (Y-m-d in your time zone),
 * RetrieveCount (1-100, default 50). Pages by cursor: pass the reply's NextCursor as Before for the next
 * (older) page; HasMore says whether there is one. There is no total: counting a large log costs more than
 * reading a page of it. Errors: 1 invalid filter or RetrieveCount, 2 domain not found/denied, 3 invalid Before,
 * 4 invalid StartDate/EndDate.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { optionalDomainScope, privateDates, zoneOf } from '../src/events/params';
import { messageLog, parseCursor } from '../src/mail/message-log';

export default defineCommand({
  name: 'emailgateway.getmessagelog',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: {
    1: 'Invalid filter or RetrieveCount',
    2: 'Domain not found or access denied',
    3: 'Invalid Before: pass the NextCursor of the previous page',
    4: 'StartDate and EndDate must be Y-m-d dates',
  },
  async run(p, ctx) {
    const scope = await optionalDomainScope(ctx, p.domainid, 2);
    const { from, to } = privateDates(p, zoneOf(ctx), 4);
    const before = p.before === undefined || p.before === '' ? null : parseCursor(p.before);
    if (p.before !== undefined && p.before !== '' && !before) throw new CommandError(3);
    const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
    return messageLog(ctx.db, { ...scope, from, to, recipient: text(p.recipient), status: text(p.status), tag: text(p.tag) }, before, Number(p.retrievecount));
  },
});
