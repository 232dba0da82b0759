/** An SMTP reply for an smtp-server hook's callback: the basic code, and the enhanced code written into the text. */
export function reply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}
