import crypto from 'node:crypto';

/** Longest host name kept as it is; a longer one is cut and a hash of the whole name appended. */
const HOST_KEPT = 24;

/**
 * A worker's name in the lease_owner columns (at most 64 printable ASCII characters): host, pid, role and a random part, so two processes
 * never share one and an operator can still tell which machine holds a lease. A host name may be 64 characters
 * on its own, which overflowed the column (MariaDB's strict mode then refuses every lease), so it is bounded:
 * at most 24 + 1 + 10 + 1 + role + 1 + 6 characters.
 */
export function leaseOwner(hostname: string, pid: number, role?: string): string {
  // deliveries.lease_owner is CHAR(64) in a one-byte charset (migrations/20270106000100): a character outside printable
  // ASCII would make MariaDB's strict mode refuse every lease, so it becomes '_'.
  const name = hostname.replace(/[^\x21-\x7e]/g, '_');
  const host = name.length <= HOST_KEPT ? name : `${name.slice(0, HOST_KEPT - 9)}~${crypto.createHash('sha256').update(hostname).digest('hex').slice(0, 8)}`;
  return [host, String(pid), ...(role ? [role] : []), crypto.randomBytes(3).toString('hex')].join(':');
}
