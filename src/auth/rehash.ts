import type { Services } from '../command';
import { needsRehash } from './secrets';

/**
 * After a password login: a hash made with other scrypt parameters than PASSWORD_HASH_COST asks for (the cost was
 * raised, or the hash predates it) is replaced by a new one of the password just proved, so raising the cost reaches
 * every account that signs in, not only passwords set afterwards. The UPDATE names the old hash: a password changed
 * meanwhile is kept. A failure is logged, never the login's: the old hash still works.
 */
export async function rehashIfNeeded(
  services: Pick<Services, 'db' | 'config' | 'passwords' | 'logger'>,
  table: 'users' | 'admins',
  id: number,
  stored: string,
  password: string,
): Promise<void> {
  const cost = services.config.passwordHashCost;
  if (!needsRehash(stored, cost)) return;
  try {
    const hash = await services.passwords.hash(password, cost);
    await services.db(table).where({ id, password_hash: stored }).update({ password_hash: hash });
  } catch (err) {
    services.logger.warn('password hash not upgraded', { table, id, error: (err as Error).message });
  }
}
