import fs from 'node:fs';
import path from 'node:path';
import { Browser, chromium } from 'playwright-core';

const NO_NICE = path.join(__dirname, 'chromium-no-nice.sh');

/**
 * Debian's Chromium with the flags this machine's browser tests use (no sandbox as root, no GPU, no background
 * traffic). As root it goes through chromium-no-nice.sh when setpriv is there, so that it cannot raise its own
 * priority above the other test files'. CHROMIUM_PATH overrides the binary (and the wrapper).
 */
export function launchChromium(): Promise<Browser> {
  const wrap = process.getuid?.() === 0 && fs.existsSync('/usr/bin/setpriv');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? (wrap ? NO_NICE : '/usr/bin/chromium'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
