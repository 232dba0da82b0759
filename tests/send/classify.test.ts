import { BounceClass, classifyReply, retryHintSeconds } from '../../src/delivery/classify';

/**
 * The worker hands classifyReply the reply code and the whole reply line as nodemailer reports it
 * (`err.response`, which starts with the code). Every reply below is one a real provider sends.
 */
type Row = [provider: string, code: number | undefined, reply: string, cls: BounceClass, permanent: boolean];

const TABLE: Row[] = [
  // Gmail
  ['Gmail', 550, '550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient\'s email address for typos or unnecessary spaces.', 'hard', true],
  ['Gmail', 550, '550 5.2.1 The email account that you tried to reach is disabled.', 'hard', true],
  ['Gmail', 552, '552 5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm', 'mailbox_full', false],
  ['Gmail', 452, '452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp', 'mailbox_full', false],
  ['Gmail', 421, '421 4.7.0 Try again later, closing connection. (EHLO)', 'soft', false],
  ['Gmail', 421, '421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.', 'rate', false],
  ['Gmail', 550, '550 5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.', 'spam', true],
  ['Gmail', 550, '550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM.', 'block', true],
  // Outlook / Exchange Online
  ['Outlook', 550, '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', 'hard', true],
  ['Outlook', 550, '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)', 'hard', true],
  ['Outlook', 550, '550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.9 AS(1450)', 'block', true],
  ['Outlook', 550, '550 5.7.606 Access denied, banned sending IP [203.0.113.9]. To request removal from this list please visit https://sender.office.com/', 'block', true],
  ['Outlook', 550, '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(730)', 'block', true],
  ['Outlook', 550, '550 5.7.350 Remote server returned message detected as spam -> 554 5.7.1 Your message was rejected', 'spam', true],
  ['Outlook', 451, '451 4.7.650 The mail server [203.0.113.9] has been temporarily rate limited due to IP reputation.', 'rate', false],
  ['Outlook', 452, '452 4.5.3 Too many recipients', 'rate', false],
  ['Exchange', 452, '452 4.3.1 Insufficient system resources', 'soft', false],
  // Yahoo / AOL
  ['Yahoo', 554, '554 delivery error: dd This user doesn\'t have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com', 'hard', true],
  ['Yahoo', 553, '553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.9, because the ip is in Spamhaus\'s list; see https://postmaster.yahooinc.com/error-codes', 'block', true],
  ['Yahoo', 554, '554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes', 'block', true],
  // Postfix
  ['Postfix', 550, '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table', 'hard', true],
  ['Postfix', 552, '552 5.2.2 <full@example.org>: Recipient address rejected: Mailbox full', 'mailbox_full', false],
  ['Postfix', 554, '554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9', 'block', true],
  ['Postfix', 554, '554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: Access denied', 'block', true],
  ['Postfix', 554, '554 5.7.1 Message rejected as spam', 'spam', true],
  ['Postfix', 421, '421 4.4.2 mx.example.org Error: timeout exceeded', 'soft', false],
  ['Postfix', 450, '450 4.2.0 <grey@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html', 'soft', false],
  // rspamd / SpamAssassin content rejections, temporary and permanent
  ['rspamd', 451, '451 4.7.1 Spam message rejected', 'spam', false],
  ['SpamAssassin', 550, '550 5.7.1 Message content rejected, UBE, id=12345-06', 'spam', true],
  // No reply at all: the connection failed before the server said anything
  ['(no server)', undefined, 'ECONNECTION connect ECONNREFUSED 127.0.0.1:25', 'connection', false],
  ['(no server)', undefined, 'ETIMEDOUT Connection timeout', 'connection', false],
  ['(no server)', undefined, 'ESOCKET Client network socket disconnected before secure TLS connection was established', 'connection', false],
];

describe('classifyReply', () => {
  it.each(TABLE)('%s: %s "%s" → %s, permanent %s', (_provider, code, reply, cls, permanent) => {
    expect(classifyReply(code, reply)).toEqual({ class: cls, permanent });
  });

  it('gives the same answer whether or not the reply text repeats the code', () => {
    expect(classifyReply(550, '5.1.1 user unknown')).toEqual({ class: 'hard', permanent: true });
    expect(classifyReply(550, '550 5.1.1 user unknown')).toEqual({ class: 'hard', permanent: true });
    expect(classifyReply(452, '4.2.2 mailbox full')).toEqual({ class: 'mailbox_full', permanent: false });
    expect(classifyReply(554, '5.7.1 Message rejected as spam')).toEqual({ class: 'spam', permanent: true });
  });

  it('decides spam and block permanence by the basic code: 4xx is retried, 5xx ends the delivery', () => {
    expect(classifyReply(451, '451 4.7.1 Message considered unsolicited, try later')).toEqual({ class: 'spam', permanent: false });
    expect(classifyReply(550, '550 5.7.1 Message considered unsolicited')).toEqual({ class: 'spam', permanent: true });
    expect(classifyReply(450, '450 4.7.1 Client host blocked using b.barracudacentral.org')).toEqual({ class: 'block', permanent: false });
    expect(classifyReply(550, '550 5.7.1 Client host blocked using b.barracudacentral.org')).toEqual({ class: 'block', permanent: true });
  });

  it('falls back to the basic code for a reply it does not recognise', () => {
    expect(classifyReply(451, '451 4.3.0 Temporary local problem')).toEqual({ class: 'soft', permanent: false });
    expect(classifyReply(503, '503 5.5.1 Bad sequence of commands')).toEqual({ class: 'hard', permanent: true });
  });

  it('treats a missing or zero code as a connection problem, whatever the text says', () => {
    expect(classifyReply(undefined, 'user unknown')).toEqual({ class: 'connection', permanent: false });
    expect(classifyReply(0, '550 5.1.1 user unknown')).toEqual({ class: 'connection', permanent: false });
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
