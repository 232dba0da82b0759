// The SMTP library's own floor for bench/relay.sh: smtp-server with the front's greeting (at once, src/smtp/greeting.ts)
// and hooks that do nothing (no lookup, no storage, no delivery). smtp-source drives it as it drives the front, so
// its CPU per message is what the library and node's sockets cost before Postern does any work.
// Prints its port; on SIGTERM prints {"n","us_per_msg"} (its CPU since it listened, over the messages it took) to
// stderr and exits.
const path = require('node:path');
require(path.join(__dirname, '..', 'dist', 'src', 'smtp', 'greeting.js'));
const { SMTPServer } = require('smtp-server');

let n = 0;
let base; // CPU used by start-up (module loading), left out of the per-message figure
const server = new SMTPServer({
  disableReverseLookup: true,
  authOptional: true,
  logger: false,
  greetingDelayMs: 0,
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      n += 1;
      cb(null, 'Ok');
    });
  },
});
server.on('error', () => undefined);
server.listen(0, '127.0.0.1', () => {
  base = process.cpuUsage();
  console.log(server.server.address().port);
});
process.on('SIGTERM', () => {
  const { user, system } = process.cpuUsage(base);
  console.error(JSON.stringify({ n, us_per_msg: n ? Math.round((user + system) / n) : null }));
  process.exit(0);
});
