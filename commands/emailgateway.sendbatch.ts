/**
 * emailgateway.sendbatch (POST /api/v1/email/batch) — up to 1,000 messages, each validated on its own; the
 * accepted ones are written in one transaction (one per From domain with an account key) and enqueued together.
 * DefaultFrom=1 gives messages without From the caller's default sender (src/mail/sender-for.ts defaultFromAddress).
 * A domain's transaction that fails after another's committed answers the batch with those messages as 100007.
 * Errors: 45 Messages missing or over 1,000; 3 bad DefaultFrom; 48 the messages would store more template content than
 * LIST_PAGE_BYTES (src/mail/batch-budget.ts): refused whole, nothing prepared or written.
 */
import { defineCommand } from '../src/command';
import { CommandError, TEMPORARILY_UNAVAILABLE } from '../src/errors';
import { isOutage } from '../src/outage';
import { acceptMessages } from '../src/mail/accept';
import { resolveRefs } from '../src/mail/prepare';
import type { Accepted, Sender, SendRefs, TemplateLookups } from '../src/mail/prepare';
import { BATCH_TEMPLATE_BYTES_CODE, batchTemplateProblem } from '../src/mail/batch-budget';
import { defaultFromAddress, senderFor } from '../src/mail/sender-for';
import { truthy } from '../src/http/params';
import { parseSendRequest, SendRequest } from '../src/mail/send-request';
import { SEND_ERRORS, SEND_HTTP_STATUS } from '../src/mail/send-codes';

export default defineCommand({
  name: 'emailgateway.sendbatch',
  auth: 'sender',
  answersDisabledAccount: true, // code 12 per message, as the send contract says
  sends: true,
  rateLimit: { durationSec: 60 },
  // Small batches go like single sends (they share group commits); larger ones take turns (src/admission.ts).
  heavy: (p) => Array.isArray(p.messages) && p.messages.length > 50,
  accountKey: 'can_send',
  errors: SEND_ERRORS,
  httpStatus: SEND_HTTP_STATUS,
  async run(p, ctx) {
    const messages = p.messages;
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > 1000) throw new CommandError(45);
    const now = Date.now();
    const hasFrom = (m: unknown) =>
      m !== null &&
      typeof m === 'object' &&
      (m as Record<string, unknown>).from !== undefined &&
      (m as Record<string, unknown>).from !== null &&
      (m as Record<string, unknown>).from !== '';
    const fallback = truthy(p.defaultfrom) && messages.some((m) => !hasFrom(m)) ? await defaultFromAddress(ctx) : null;
    const parsed = messages.map((m) => {
      const raw = (m ?? {}) as Record<string, unknown>;
      const given = fallback && typeof raw === 'object' && !hasFrom(raw) ? { ...raw, from: { name: '', email: fallback } } : raw;
      return parseSendRequest(given, { maxAttachmentBytes: ctx.config.maxAttachmentBytes, now });
    });
    for (const x of parsed) {
      if (x.req.targetListId !== undefined)
        x.problems.push({ code: 16, message: 'TargetListID is not accepted in a batch: send list mail through /api/v1/email' });
    }
    const valid = parsed.map((x, i) => ({ i, x })).filter(({ x }) => !x.problems.length);
    const results: Record<string, unknown>[] = parsed.map((x) => ({ Errors: x.problems.map((e) => ({ Code: e.code, Message: e.message })) }));
    // A sender key sends everything from its domain; an account key from each message's From domain.
    const groups = new Map<number, { sender: Sender; items: { i: number; req: SendRequest; refs: SendRefs }[] }>();
    for (const { i, x } of valid) {
      const who = await senderFor(ctx, x.req.from.email);
      if (!who.ok) {
        results[i] = { Errors: [{ Code: who.problem.code, Message: who.problem.message }] };
        continue;
      }
      const g = groups.get(Number(who.sender.domain.id)) ?? { sender: who.sender, items: [] };
      g.items.push({ i, req: x.req, refs: {} });
      groups.set(Number(who.sender.domain.id), g);
    }
    // References resolved for the whole batch, each TemplateID read once (one account: the senders share a user),
    // and the template content the batch would store bounded before any message is prepared.
    const templates: TemplateLookups = new Map();
    for (const g of groups.values()) {
      const refs = await Promise.all(g.items.map((it) => resolveRefs(ctx, g.sender, it.req, templates)));
      g.items = g.items.filter((it, j) => {
        if (refs[j].problems.length) results[it.i] = { Errors: refs[j].problems.map((e) => ({ Code: e.code, Message: e.message })) };
        else it.refs = refs[j].refs;
        return !refs[j].problems.length;
      });
    }
    const tooBig = batchTemplateProblem(
      [...groups.values()].flatMap((g) => g.items),
      ctx.config.listPageBytes,
    );
    if (tooBig) throw new CommandError(BATCH_TEMPLATE_BYTES_CODE, tooBig);
    const summary = (all: Record<string, unknown>[]) => {
      const ok = all.filter((r) => 'MessageID' in r).length;
      return { Total: all.length, Accepted: ok, Rejected: all.length - ok, Results: all };
    };
    const place = (all: Record<string, unknown>[], items: { i: number }[], accepted: Accepted[]) =>
      accepted.forEach((a, j) => {
        all[items[j].i] = a.ok ? { MessageID: a.messageId } : { Errors: a.problems.map((e) => ({ Code: e.code, Message: e.message })) };
      });
    const reply = ctx.idempotentReply;
    const list = [...groups.values()].filter((g) => g.items.length);
    for (const [gi, g] of list.entries()) {
      // With an Idempotency-Key, each group's transaction commits the reply so far: the messages of groups not
      // yet written say so, so a retry after a crash replays the truth and never sends a group twice. All but the
      // last are partial: until the last group is written, a concurrent retry is told to wait, not replayed.
      const later = list.slice(gi + 1).flatMap((x) => x.items);
      const soFar =
        reply &&
        ((a: Accepted[]) => {
          const all = [...results];
          place(all, g.items, a);
          for (const { i } of later)
            all[i] = {
              Errors: [
                {
                  Code: TEMPORARILY_UNAVAILABLE,
                  Message: 'Not accepted: the request ended before this message was written; send it again with a new Idempotency-Key',
                },
              ],
            };
          return reply(summary(all), { partial: gi < list.length - 1 });
        });
      try {
        place(
          results,
          g.items,
          await acceptMessages(
            ctx,
            g.sender,
            g.items.map((it) => it.req),
            g.items.map((it) => it.refs),
            soFar,
          ),
        );
      } catch (err) {
        // Nothing written yet: the request failed whole (a 503 for an outage), and sending it again is right. Some
        // domains' messages committed (no Idempotency-Key to replay them): the answer says which, and each of the
        // rest carries the error, so the client sends only those again; a bare 503 had it send the committed ones twice.
        if (reply || gi === 0) throw err;
        if (!isOutage(err)) ctx.logger.error('batch group failed after earlier groups were written', { error: (err as Error).message });
        const why = isOutage(err) ? 'its database or queue is not answering' : 'an internal error';
        for (const { i } of list.slice(gi).flatMap((x) => x.items))
          results[i] = { Errors: [{ Code: TEMPORARILY_UNAVAILABLE, Message: `Not accepted (${why}); the others were: send this one again` }] };
        break;
      }
    }
    return summary(results);
  },
});
