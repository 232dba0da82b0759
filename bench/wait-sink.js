// Waits until smtp-sink's counter file (-c output, numbers separated by carriage returns) reaches a count,
// reading only the file's tail every 20 ms: the bench's wait must not cost the machine it measures.
// Usage: node bench/wait-sink.js <file> <count> <timeout seconds>; prints the end time (epoch seconds) or exits 1.
const fs = require('fs');
const [file, want, timeoutSec] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] || 600)];
const deadline = Date.now() + timeoutSec * 1000;
const buf = Buffer.alloc(256);
function count() {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const n = fs.readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length));
    const nums = buf.toString('latin1', 0, n).match(/\d+/g);
    return nums ? Number(nums[nums.length - 1]) : 0;
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
const timer = setInterval(() => {
  const c = count();
  if (c >= want) {
    clearInterval(timer);
    process.stdout.write(`${(Date.now() / 1000).toFixed(3)}\n`);
  } else if (Date.now() > deadline) {
    clearInterval(timer);
    process.stderr.write(`timed out with ${c} of ${want} at the sink\n`);
    process.exit(1);
  }
}, 20);
