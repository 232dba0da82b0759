import { domainToASCII } from 'node:url';

/**
 * An envelope address as Postern stores and compares addresses: with an ASCII (`xn--…`) domain. smtp-server hands
 * its hooks every MAIL FROM and RCPT TO domain converted to Unicode (punycode.toUnicode), while sender domains,
 * suppressions and the API's addresses are ASCII. An ASCII domain is returned unchanged (case included); a domain
 * that has no ASCII form, or an address without one, comes back as given, for the caller's syntax check to refuse.
 */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf('@');
  // eslint-disable-next-line no-control-regex -- "not ASCII": the only domains smtp-server rewrote
  if (at < 0 || !/[^\x00-\x7f]/.test(address.slice(at + 1))) return address;
  const domain = domainToASCII(address.slice(at + 1));
  return domain ? `${address.slice(0, at + 1)}${domain}` : address;
}
