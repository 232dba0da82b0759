import { BounceClass, classifyReply, decidingRule, Rule, RULES, retryHintSeconds } from '../../src/delivery/classify';
import { REPLIES } from './replies';

/**
 * The worker hands classifyReply the reply code and the whole reply as nodemailer reports it (`err.response`,
 * which starts with the code). REPLIES (tests/send/replies.ts) holds replies in the form real providers send
 * them; tests/send/outcomes.test.ts drives the same table through a real SMTP sink.
 */
describe('classifyReply', () => {
  it.each(REPLIES.map((r) => [r.provider, r.code, r.reply, r.class, r.permanent, r.suppress] as const))(
    '%s: %s "%s" → %s, permanent %s, suppress %s',
    (_provider, code, reply, cls, permanent, suppress) => {
      expect(classifyReply(code, reply)).toEqual({ class: cls, permanent, suppress });
    },
  );

  it('puts no address on the suppression list for a reply no rule knows, nor for the two the issue names', () => {
    expect(classifyReply(500, '500 Line too long')).toEqual({ class: 'message', permanent: true, suppress: false });
    expect(classifyReply(552, '552 5.3.4 Message size exceeds fixed limit')).toEqual({ class: 'message', permanent: true, suppress: false });
    expect(classifyReply(550, '550 Requested action not taken: mailbox unavailable')).toEqual({ class: 'undetermined', permanent: true, suppress: false });
    expect(classifyReply(554, '554 Transaction failed')).toEqual({ class: 'undetermined', permanent: true, suppress: false });
    expect(classifyReply(503, '503 5.5.1 Bad sequence of commands')).toEqual({ class: 'undetermined', permanent: true, suppress: false });
  });

  it('lets the enhanced code decide over wording that suggests another class', () => {
    // "mailbox unavailable" and "not found" are in the text, but 5.7.1 is a policy refusal and 5.3.4 a size limit.
    expect(classifyReply(550, '550 5.7.1 Mailbox unavailable: sender not found in allow list')).toMatchObject({ class: 'block', suppress: false });
    expect(classifyReply(552, '552 5.3.4 Recipient mailbox not found or message too big')).toMatchObject({ class: 'message', suppress: false });
    expect(classifyReply(550, '550 5.5.0 User unknown')).toMatchObject({ class: 'undetermined', suppress: false });
  });

  it('reads the text when the code is X.0.0 or missing', () => {
    expect(classifyReply(550, '550 5.0.0 <a@b.test>... User unknown')).toEqual({ class: 'hard', permanent: true, suppress: true });
    expect(classifyReply(550, '550 5.0.0 Something went wrong')).toEqual({ class: 'undetermined', permanent: true, suppress: false });
    expect(classifyReply(550, '550 No such user here')).toEqual({ class: 'hard', permanent: true, suppress: true });
  });

  it('prefers the enhanced code it is given (a DSN Status field) over one in the text', () => {
    expect(classifyReply(550, 'smtp; 550 Requested action not taken', '5.1.1')).toEqual({ class: 'hard', permanent: true, suppress: true });
    expect(classifyReply(550, '550 5.1.1 user unknown', '5.2.2')).toEqual({ class: 'mailbox_full', permanent: false, suppress: false });
    expect(classifyReply(550, '550 5.1.1 user unknown', 'not a status')).toMatchObject({ class: 'hard' });
  });

  it('gives the same answer whether or not the reply text repeats the basic code', () => {
    expect(classifyReply(550, '5.1.1 user unknown')).toEqual(classifyReply(550, '550 5.1.1 user unknown'));
    expect(classifyReply(452, '4.2.2 mailbox full')).toEqual(classifyReply(452, '452 4.2.2 mailbox full'));
    expect(classifyReply(550, '550-5.1.1 The email account')).toEqual(classifyReply(550, '550 5.1.1 The email account'));
  });

  it('never suppresses on a temporary reply, whatever its code or text says', () => {
    expect(classifyReply(450, '450 4.1.1 <x@y.test>: Recipient address rejected: unverified address')).toEqual({
      class: 'soft',
      permanent: false,
      suppress: false,
    });
    expect(classifyReply(451, '451 no such user (temporary lookup failure)')).toEqual({ class: 'soft', permanent: false, suppress: false });
  });

  it('treats a missing or zero code as a connection problem, whatever the text says', () => {
    expect(classifyReply(undefined, 'user unknown')).toEqual({ class: 'connection', permanent: false, suppress: false });
    expect(classifyReply(0, '550 5.1.1 user unknown')).toEqual({ class: 'connection', permanent: false, suppress: false });
  });

  it('has at least one real reply behind every row of its table', () => {
    const used = new Set<Rule | undefined>(REPLIES.filter((r) => r.code).map((r) => decidingRule(r.reply)));
    const unused = RULES.map((r, i) => ({ i, r })).filter(({ r }) => !used.has(r));
    expect(unused.map(({ i, r }) => `row ${i}: ${r.code ?? ''} ${r.text ?? ''} → ${r.class}`)).toEqual([]);
  });

  it('names only classes the docs list', () => {
    const documented: BounceClass[] = ['hard', 'soft', 'block', 'spam', 'mailbox_full', 'message', 'rate', 'connection', 'undetermined'];
    for (const r of REPLIES) expect(documented).toContain(r.class);
  });
});

describe('retryHintSeconds', () => {
  it.each<[string, number | null]>([
    ['451 4.7.1 Greylisted, please try again in 3 seconds', 3],
    ['451 4.7.1 try again in 3 seconds', 3],
    ['450 4.2.0 Greylisted, retry in 5 minutes', 300],
    ['421 4.7.0 Too many connections, retry after 90 sec', 90],
    ['451 4.7.1 Try again later in 10 min', 600],
    ['451 4.7.1 Please try again in 2m', 120],
    ['451 4.7.1 try again in 45s', 45],
    ['421 4.7.0 Try again later, closing connection. (EHLO)', null],
    ['451 4.3.0 Multiple destination domains per transaction is unsupported. Please try again.', null],
    ['452 4.2.2 Mailbox full', null],
    ['', null],
  ])('"%s" → %s', (reply, seconds) => {
    expect(retryHintSeconds(reply)).toBe(seconds);
  });
});
