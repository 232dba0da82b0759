import type { BounceClass } from '../../src/delivery/classify';

/**
 * SMTP replies as providers send them (their published texts and the form they take in real bounces; IPs,
 * addresses and ids replaced with documentation values), and what each must mean for a delivery. Used by
 * classify.test.ts (the classifier alone) and outcomes.test.ts (the same replies from a real SMTP sink).
 */
export interface ReplyRow {
  provider: string;
  /** Basic reply code; undefined: no reply at all (the connection failed). */
  code: number | undefined;
  /** The whole reply as nodemailer reports it, starting with the basic code. */
  reply: string;
  class: BounceClass;
  permanent: boolean;
  suppress: boolean;
}

type Row = [provider: string, code: number | undefined, reply: string, cls: BounceClass, permanent: boolean, suppress: boolean];

const ROWS: Row[] = [
  // Gmail / Google Workspace (support.google.com/a/answer/3726730)
  ['Gmail', 550, "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp", 'hard', true, true],
  ['Gmail', 550, '550 5.2.1 The email account that you tried to reach is disabled. For more information, go to https://support.google.com/mail/?p=DisabledUser a1si123 - gsmtp', 'hard', true, true],
  ['Gmail', 552, '552 5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm a1si123 - gsmtp', 'mailbox_full', false, false],
  ['Gmail', 452, '452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp a1si123 - gsmtp', 'mailbox_full', false, false],
  ['Gmail', 450, '450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. If the user is able to receive mail at that time, your message will be delivered. - gsmtp', 'rate', false, false],
  ['Gmail', 550, '550 5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time. - gsmtp', 'rate', false, false],
  ['Gmail', 421, '421 4.7.0 Try again later, closing connection. (EHLO) a1si123 - gsmtp', 'soft', false, false],
  ['Gmail', 421, '421 4.7.0 TLS required for RCPT domain, closing connection. a1si123 - gsmtp', 'soft', false, false],
  ['Gmail', 421, '421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. a1si123 - gsmtp', 'rate', false, false],
  ['Gmail', 421, '421 4.7.0 [203.0.113.9] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily blocked. - gsmtp', 'spam', false, false],
  ['Gmail', 451, '451 4.3.0 Mail server temporarily rejected message. a1si123 - gsmtp', 'soft', false, false],
  ['Gmail', 452, '452 4.5.3 Your message has too many recipients. For more information regarding Google\'s sending limits, go to https://support.google.com/mail/?p=TooManyRecipientsError - gsmtp', 'rate', false, false],
  ['Gmail', 550, '550 5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. For more information, go to https://support.google.com/mail/?p=UnsolicitedMessageError a1si123 - gsmtp', 'spam', true, false],
  ['Gmail', 550, '550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM. a1si123 - gsmtp', 'block', true, false],
  ['Gmail', 550, "550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain. a1si123 - gsmtp", 'block', true, false],
  ['Gmail', 550, "550 5.7.1 [203.0.113.9] The IP you're using to send mail is not authorized to send email directly to our servers. Please use the SMTP relay at your service provider instead. a1si123 - gsmtp", 'block', true, false],
  ['Gmail', 550, '550 5.7.1 This message violates example.com email policy. - gcdp <a1b2c3> - gsmtp', 'block', true, false],
  ['Gmail', 552, "552 5.3.4 Your message exceeded Google's message size limits. For more information, go to https://support.google.com/mail/?p=MaxSizeError a1si123 - gsmtp", 'message', true, false],
  ['Gmail', 554, '554 5.6.0 Message exceeded 50 hops, this may indicate a mail loop. a1si123 - gsmtp', 'message', true, false],
  // Outlook.com / Exchange Online (learn.microsoft.com, "Email non-delivery reports and SMTP errors")
  ['Outlook', 550, '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup', 'hard', true, true],
  ['Outlook', 550, '550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found', 'hard', true, true],
  ['Outlook', 550, '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [BN1NAM02FT022.eop-nam02.prod.protection.outlook.com]', 'hard', true, true],
  ['Outlook', 550, '550 5.4.1 Relay Access Denied', 'undetermined', true, false],
  ['Outlook', 550, '550 5.1.8 Access denied, bad outbound sender. AS(42004)', 'block', true, false],
  ['Outlook', 550, '550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient', 'message', true, false],
  ['Outlook', 554, '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded', 'mailbox_full', false, false],
  ['Outlook', 552, '552 5.3.4 Message size exceeds fixed maximum message size', 'message', true, false],
  ['Outlook', 554, "554 5.6.211 Invalid MIME Content: Single text value size (32768) exceeded allowed maximum (32768) for the 'Subject' property.", 'message', true, false],
  ['Outlook', 550, '550 4.4.7 QUEUE.Expired; message expired', 'undetermined', true, false],
  ['Outlook', 554, '554 5.4.14 Hop count exceeded - possible mail loop ATTR34', 'undetermined', true, false],
  ['Outlook', 550, '550 5.7.1 Service unavailable, Client host [203.0.113.9] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.9 AS(1450)', 'block', true, false],
  ['Outlook', 550, '550 5.7.606 Access denied, banned sending IP [203.0.113.9]. To request removal from this list please visit https://sender.office.com/ and follow the directions.', 'block', true, false],
  ['Outlook', 550, '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(730)', 'block', true, false],
  ['Outlook', 550, '550 5.7.520 Access denied, Your organization does not allow external forwarding.', 'block', true, false],
  ['Outlook', 550, '550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized', 'block', true, false],
  ['Outlook', 530, '530 5.7.57 Client was not authenticated to send anonymous mail during MAIL FROM', 'block', true, false],
  ['Outlook', 550, '550 5.7.350 Remote server returned message detected as spam -> 554 5.7.1 Your message was rejected', 'spam', true, false],
  ['Outlook', 451, '451 4.7.650 The mail server [203.0.113.9] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)', 'rate', false, false],
  ['Outlook', 452, '452 4.3.1 Insufficient system resources', 'soft', false, false],
  // Yahoo / AOL (senders.yahooinc.com/smtp-error-codes, help.yahoo.com)
  ['Yahoo', 554, "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com", 'hard', true, true],
  ['Yahoo', 554, '554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This account has been disabled or discontinued [#102]. - mta1234.mail.bf1.yahoo.com', 'hard', true, true],
  ['Yahoo', 554, '554 delivery error: dd Sorry, your message to someone@yahoo.com cannot be delivered. This account is over quota. - mta1234.mail.ne1.yahoo.com', 'mailbox_full', false, false],
  ['Yahoo', 450, '450 User is receiving mail too quickly', 'rate', false, false],
  ['Yahoo', 553, "553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.9, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", 'block', true, false],
  ['Yahoo', 554, '554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes', 'block', true, false],
  ['Yahoo', 550, '550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.', 'block', true, false],
  ['Yahoo', 421, '421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes', 'rate', false, false],
  ['Yahoo', 421, '421 4.7.0 [TS01] Messages from 203.0.113.9 temporarily deferred due to user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes', 'block', false, false],
  ['Yahoo', 554, '554 30 Sorry, your message size exceeds 41943040 bytes.', 'message', true, false],
  ['AOL', 550, '550 #5.1.0 Address rejected someone@aol.com', 'hard', true, true],
  ['AOL', 552, '552 1 Requested mail action aborted, mailbox not found', 'hard', true, true],
  // Postfix (and Dovecot LMTP behind it)
  ['Postfix', 550, '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table', 'hard', true, true],
  ['Postfix', 550, '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table', 'hard', true, true],
  ['Postfix', 550, '550 5.1.0 <shop@example.com>: Sender address rejected: User unknown in virtual mailbox table', 'block', true, false],
  ['Postfix', 450, '450 4.1.8 <shop@example.com>: Sender address rejected: Domain not found', 'block', false, false],
  ['Postfix', 450, '450 4.1.1 <x@example.org>: Recipient address rejected: unverified address: host mx.example.org[203.0.113.7] said: 450 try later', 'soft', false, false],
  ['Postfix', 450, '450 4.2.0 <grey@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html', 'soft', false, false],
  ['Postfix', 421, '421 4.4.2 mx.example.org Error: timeout exceeded', 'soft', false, false],
  ['Postfix', 552, '552 5.3.4 Message size exceeds fixed limit', 'message', true, false],
  ['Postfix', 503, '503 5.5.1 Error: need RCPT command', 'undetermined', true, false],
  ['Postfix', 554, '554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9', 'block', true, false],
  ['Postfix', 554, '554 5.7.1 <unknown[203.0.113.9]>: Client host rejected: Access denied', 'block', true, false],
  ['Postfix', 450, '450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.9]', 'block', false, false],
  ['Postfix', 454, '454 4.7.1 <someone@elsewhere.test>: Relay access denied', 'block', false, false],
  ['Postfix', 554, '554 5.7.1 <someone@elsewhere.test>: Relay access denied', 'block', true, false],
  ['Postfix', 550, '550 5.4.4 Host or domain name not found. Name service error for name=nowhere.test type=A: Host not found', 'hard', true, true],
  ['Dovecot', 552, '552 5.2.2 <full@example.org> Quota exceeded (mailbox for user is full)', 'mailbox_full', false, false],
  // Content filters in front of Postfix
  ['rspamd', 451, '451 4.7.1 Try again later', 'soft', false, false],
  ['rspamd', 554, '554 5.7.1 Spam message rejected', 'spam', true, false],
  ['amavis', 554, '554 5.7.0 Reject, id=12345-06 - spam', 'spam', true, false],
  // Exim (cPanel) and Barracuda answer without enhanced codes
  ['Exim', 550, '550 No Such User Here', 'hard', true, true],
  ['Exim', 550, '550 Administrative prohibition', 'undetermined', true, false],
  ['Exim', 550, '550 This message was classified as SPAM and may not be delivered', 'spam', true, false],
  ['Barracuda', 554, '554 Service unavailable; Client host [203.0.113.9] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=203.0.113.9', 'block', true, false],
  // The two replies issue 13 names, and the ones Postern's own MX lookup writes
  ['issue 13', 500, '500 Line too long', 'message', true, false],
  ['issue 13', 552, '552 5.3.4 Message size exceeds fixed limit', 'message', true, false],
  ['Postern MX', 556, '556 5.1.10 dest.test accepts no mail (null MX)', 'hard', true, true],
  ['Postern MX', 550, '550 5.1.2 dest.test: host or domain name not found', 'hard', true, true],
  // No reply at all: the connection failed before the server said anything
  ['(no server)', undefined, 'ECONNECTION connect ECONNREFUSED 127.0.0.1:25', 'connection', false, false],
  ['(no server)', undefined, 'ETIMEDOUT Connection timeout', 'connection', false, false],
  ['(no server)', undefined, 'ESOCKET Client network socket disconnected before secure TLS connection was established', 'connection', false, false],
];

export const REPLIES: ReplyRow[] = ROWS.map(([provider, code, reply, cls, permanent, suppress]) => ({ provider, code, reply, class: cls, permanent, suppress }));
