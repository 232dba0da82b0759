/**
 * npm run chaos — the fault suite (see chaos/README.md). CHAOS_PROFILE=full (default: 20,000 messages, every
 * fault) or short (the CI subset); CHAOS_MESSAGES overrides the count; CHAOS_KEEP=1 keeps the logs' temp dir.
 * Exits 1 when a target is missed.
 */
import { format } from './report';
import { PROFILES, runChaos } from './scenario';

async function main(): Promise<void> {
  const name = (process.env.CHAOS_PROFILE ?? 'full') as keyof typeof PROFILES;
  const base = PROFILES[name];
  if (!base) throw new Error(`CHAOS_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`);
  const messages = Number(process.env.CHAOS_MESSAGES ?? base.load.messages);
  const profile = { ...base, load: { ...base.load, messages } };
  const started = Date.now();
  const report = await runChaos(profile, (line) => process.stdout.write(`# ${line}\n`));
  process.stdout.write(`${format(report)}\n`);
  process.stdout.write(`# whole run ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.exit(report.targets.met ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
