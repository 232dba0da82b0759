// A counting SMTP sink for bench:send, run as its own process (node bench/count-sink.js <port>), so that its CPU is
// measured apart from the bench's. It stands in for the recipients' MX servers, which a real deployment does not
// have on its own cores, so it should cost as little as possible. Hand-written rather than smtp-server (which the bench
// used before) because parsing, dot-unstuffing and streaming every message in JavaScript is exactly the cost to keep
// out of the measurement (190–270 µs per message; Postfix's smtp-sink, tried too, 90–120 µs): this one only answers
// the commands a relay client sends, advertises PIPELINING and finds each message's end with Buffer.indexOf, one write
// per batch of replies. It keeps nothing. The parent asks for the count over IPC ('count' → number).
const net = require('node:net');

const port = Number(process.argv[2]);
const END = Buffer.from('\r\n.\r\n');
const EHLO = '250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n';
let received = 0;

function session(socket) {
  let data = false;
  // In command mode: an incomplete command line; in data mode: the last bytes of the body, so an end marker split
  // over two reads is still found.
  let pending = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.write('220 sink.test ESMTP\r\n');
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let out = '';
    for (;;) {
      if (data) {
        const end = buf.indexOf(END);
        if (end < 0) {
          pending = buf.subarray(Math.max(0, buf.length - (END.length - 1)));
          break;
        }
        received += 1;
        out += '250 2.0.0 queued\r\n';
        data = false;
        buf = buf.subarray(end + END.length);
        continue;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) {
        pending = buf;
        break;
      }
      const verb = buf.toString('latin1', 0, Math.min(eol, 4)).toUpperCase();
      if (verb === 'DATA') {
        out += '354 go ahead\r\n';
        data = true;
        // The CRLF that ends the DATA line starts the end marker of an empty message.
        buf = buf.subarray(eol);
        continue;
      }
      buf = buf.subarray(eol + 2);
      if (verb === 'EHLO') out += EHLO;
      else if (verb === 'QUIT') {
        socket.end(out + '221 2.0.0 bye\r\n');
        return;
      } else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP' || verb === 'HELO') out += '250 2.0.0 ok\r\n';
      else out += '502 5.5.2 not implemented\r\n';
    }
    if (out) socket.write(out);
  });
}

const server = net.createServer(session);
server.listen(port, '127.0.0.1', () => process.send({ listening: true }));
process.on('message', (m) => {
  if (m === 'count') process.send({ received });
});
process.on('disconnect', () => process.exit(0));
