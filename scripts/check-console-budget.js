#!/usr/bin/env node
// Fails the build when the console's first load (index.html and every file it names: the entry script, its
// preloaded chunks, the stylesheet) is over budget gzipped. Run after vite by `npm run bundle:console` (part of `build:console` and `build:emit`); the browser
// test tests/console/pages.test.ts measures the same thing from what Chromium actually fetches.
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const BUDGET_KB = 250;
const dir = path.join(__dirname, '..', 'dist', 'console');
const html = fs.readFileSync(path.join(dir, 'index.html'));
const files = [['index.html', html]];
for (const [, url] of html.toString().matchAll(/(?:src|href)="(\/console\/[^"]+)"/g)) {
  files.push([url, fs.readFileSync(path.join(dir, url.slice('/console/'.length)))]);
}
const sizes = files.map(([name, body]) => [name, zlib.gzipSync(body, { level: 9 }).length]);
const total = sizes.reduce((a, [, n]) => a + n, 0);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`console first load: ${sizes.map(([f, n]) => `${path.basename(f)} ${kb(n)}`).join(', ')}; total ${kb(total)} gzipped (budget ${BUDGET_KB} KB)`);
if (sizes.length < 3) {
  console.error('check-console-budget: index.html names no script or stylesheet under /console/: is this the built page?');
  process.exit(1);
}
if (total > BUDGET_KB * 1024) {
  console.error(`check-console-budget: the first load is ${kb(total)} gzipped, over the ${BUDGET_KB} KB budget`);
  process.exit(1);
}
