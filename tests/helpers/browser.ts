import { Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium with the flags this machine's browser tests use (no sandbox as root, no GPU, no background
 * traffic). CHROMIUM_PATH overrides the binary.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
