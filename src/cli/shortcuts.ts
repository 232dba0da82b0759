import { Command } from 'commander';
import { commands } from '../../commands';
import { randomToken } from '../auth/secrets';
import type { Action } from './installation';
import { parseParams } from './params';
import { UsageError } from './usage-error';

/** The part of the Cli (./program.ts) a shortcut uses: run an action with the installation open. */
interface Acts {
  act(command: string | null, action: Action): Promise<void>;
}

/** The most users.get answers in one call. */
const USERS_PAGE = 1000;

const MORE = ['[params...]', 'more parameters of the command, as Key=value or Key:=json'] as const;

/**
 * Shortcuts for the common jobs. Each one is a command run through the dispatcher (so the same checks and codes as
 * over HTTP); the shortcut only finds the user or domain it acts for and names the usual parameters.
 */
export function addShortcuts(program: Command, cli: Acts): void {
  const user = program.command('user').description('create, list and disable users');
  user
    .command('create')
    .description('create a user (user.create); prints its UserID, and the password when one was generated')
    .requiredOption('--username <name>', '3-64 letters, digits or ._@+-')
    .requiredOption('--email <address>', "the user's email address")
    .option('--password <password>', 'at least 8 characters; leave out to have one generated and printed once')
    .option('--first-name <name>', 'first name (default: the username)')
    .option('--last-name <name>', 'last name', '')
    .option('--group <id>', 'user group (1 = Default, every permission)', '1')
    .option('--time-zone <zone>', 'IANA time zone', 'UTC')
    .option('--language <code>', 'language code', 'en')
    .argument(...MORE)
    .action((pairs: string[], o: Record<string, string>) =>
      cli.act('user.create', async (inst) => {
        // A Password=… pair is a password given, as --password is: only a generated one is printed.
        const extra = parseParams(pairs);
        if (o.password !== undefined && extra.password !== undefined) throw new UsageError('give the password once: --password or Password=, not both');
        const chosen = o.password ?? (extra.password === undefined ? undefined : String(extra.password));
        const password = chosen ?? randomToken(12);
        const given = {
          Username: o.username,
          EmailAddress: o.email,
          Password: password,
          FirstName: o.firstName ?? o.username,
          LastName: o.lastName,
          RelUserGroupID: o.group,
          TimeZone: o.timeZone,
          Language: o.language,
        };
        const r = await inst.run('user.create', { ...parseParams(Object.entries(given).map(([k, v]) => `${k}=${v}`)), ...extra, password });
        return chosen === undefined ? { ...r, Password: password } : r;
      }),
    );
  user
    .command('list')
    .description('list users (users.get)')
    .option('--search <text>', 'match username, email or name')
    .option('--status <status>', 'Enabled or Disabled')
    .action((o: { search?: string; status?: string }) =>
      cli.act('users.get', async (inst) => {
        // users.get answers at most 1,000 a call: page until every match is listed, not only the first 1,000.
        const users: unknown[] = [];
        for (;;) {
          const params = { RecordsPerRequest: USERS_PAGE, RecordsFrom: users.length, Search: o.search, AccountStatus: o.status };
          const r = await inst.run('users.get', parseParams([], JSON.stringify(params)));
          const page = r.Users as unknown[];
          users.push(...page);
          if (page.length < USERS_PAGE || users.length >= Number(r.TotalUserCount)) return { TotalUserCount: r.TotalUserCount, Users: users };
        }
      }),
    );
  user
    .command('disable')
    .description('disable a user and end their sessions (user.update AccountStatus=Disabled)')
    .argument('<user>', 'UserID, username or email address')
    .action((ref: string) =>
      cli.act('user.update', async (inst) => inst.run('user.update', parseParams([`UserID=${(await inst.findUser(ref)).id}`, 'AccountStatus=Disabled']))),
    );

  const domain = program.command('domain').description('add and verify sender domains, show their DNS records');
  domain
    .command('add')
    .description('add a sender domain for a user (emailgateway.adddomain); prints the DNS records to publish')
    .argument('<domain>', 'the domain name')
    .requiredOption('--user <user>', 'the owner: UserID, username or email address')
    .argument(...MORE)
    .action((name: string, pairs: string[], o: { user: string }) =>
      cli.act('emailgateway.adddomain', async (inst) =>
        inst.run('emailgateway.adddomain', parseParams([`DomainName=${name}`, ...pairs]), { user: await inst.findUser(o.user) }),
      ),
    );
  const asOwner = (command: string, extra: (id: number) => string[]) => (ref: string) =>
    cli.act(command, async (inst) => {
      const { domain: d, user: owner } = await inst.findDomain(ref);
      return inst.run(command, parseParams(extra(d.id)), { user: owner });
    });
  domain
    .command('verify')
    .description("check the domain's DNS records now (emailgateway.verifydomain); Enabled once every required record is right")
    .argument('<domain>', 'DomainID or domain name')
    .action(asOwner('emailgateway.verifydomain', (id) => [`DomainID=${id}`]));
  domain
    .command('rotate-dkim')
    .description('start a DKIM key rotation (emailgateway.rotatedkim): prints the new TXT record; signing switches once it verifies')
    .argument('<domain>', 'DomainID or domain name')
    .action(asOwner('emailgateway.rotatedkim', (id) => [`DomainID=${id}`]));
  domain
    .command('records')
    .description('the DNS records to publish for a domain (emailgateway.getdomain)')
    .argument('<domain>', 'DomainID or domain name')
    .action((ref: string) =>
      cli.act('emailgateway.getdomain', async (inst) => {
        const { domain: d, user: owner } = await inst.findDomain(ref);
        const r = (await inst.run('emailgateway.getdomain', { domainid: d.id }, { user: owner })) as { Domain: Record<string, unknown> };
        return { DomainID: r.Domain.DomainID, SenderDomain: r.Domain.SenderDomain, Status: r.Domain.Status, DNSRecords: r.Domain.DNSRecords };
      }),
    );

  const setStatus = (status: 'Suspended' | 'Enabled') => (ref: string) =>
    cli.act('emailgateway.setdomainstatus', async (inst) =>
      inst.run('emailgateway.setdomainstatus', { domainid: (await inst.findDomain(ref)).domain.id, status }),
    );
  domain
    .command('suspend')
    .description('stop a domain sending (emailgateway.setdomainstatus Status=Suspended); only the admin lifts it')
    .argument('<domain>', 'DomainID or domain name')
    .action(setStatus('Suspended'));
  domain
    .command('unsuspend')
    .description('lift a suspension (emailgateway.setdomainstatus Status=Enabled): Enabled again if its records verified')
    .argument('<domain>', 'DomainID or domain name')
    .action(setStatus('Enabled'));

  program
    .command('key')
    .description('sender API keys')
    .command('create')
    .description('create a sender API key for a domain (emailgateway.addapi); the key is shown only now')
    .argument('<domain>', 'DomainID or domain name')
    .option('--description <text>', 'what the key is for', 'created with the postern CLI')
    .action((ref: string, o: { description: string }) => asOwner('emailgateway.addapi', (id) => [`DomainID=${id}`, `Description=${o.description}`])(ref));

  const queue = program.command('queue').description('the delivery queue');
  queue
    .command('status')
    .description('deliveries by state, the oldest waiting, the recipient domains most deferred (queue.status)')
    .option('--domain <domain>', 'only this sender domain (DomainID or name)')
    .action((o: { domain?: string }) =>
      cli.act('queue.status', async (inst) => inst.run('queue.status', o.domain ? { domainid: (await inst.findDomain(o.domain)).domain.id } : {})),
    );
  // Queue control commands (queue.list, queue.retry, queue.hold, …) are reachable as `postern queue <verb>` as soon
  // as they exist in the command table, without a change here.
  queue
    .argument('[verb]', 'list, retry, hold, release or purge (queue.<verb>)')
    .argument(...MORE)
    .option('--user <user>', "act as this user (id, username or email): only their deliveries; default the admin, every user's")
    .addHelpText(
      'after',
      '\nSelect deliveries with DeliveryID=, DomainID=, SenderDomain=, RecipientDomain=, MinAgeSeconds=, MaxAgeSeconds=, UserID=\n' +
        '(retry, hold, release and purge need one of them, or All=true). list also takes State= (deferred, queued, scheduled,\n' +
        'held, leased, all), Page= and Limit=.\n\nExamples:\n  postern queue list RecipientDomain=gmail.com\n  postern queue hold SenderDomain=example.com\n' +
        '  postern queue release SenderDomain=example.com\n  postern queue retry All=true\n  postern queue purge RecipientDomain=gone.example MinAgeSeconds=86400',
    )
    .action(async (verb: string | undefined, pairs: string[], o: { user?: string }) => {
      const { lookupCommand } = await import('../dispatch'); // here, not at the top: --help and the other shortcuts need not load it
      const name = `queue.${verb ?? ''}`;
      if (!verb || !lookupCommand(commands, name)) {
        const known = Object.keys(commands)
          .filter((c) => c.startsWith('queue.'))
          .map((c) => c.slice(6));
        throw new UsageError(`${verb ? `unknown queue command "${verb}"` : 'name a queue command'} (there are: ${known.join(', ')})`);
      }
      return cli.act(name, async (inst) => inst.run(name, parseParams(pairs), o.user ? { user: await inst.findUser(o.user) } : {}));
    });

  const admin = program.command('admin').description("the installation's admin credentials");
  admin
    .command('reset-key')
    .description('replace the generated AdminAPIKey and print the new one once (admin.apikey.reset)')
    .action(() => cli.act('admin.apikey.reset', (inst) => inst.run('admin.apikey.reset', {})));
  admin
    .command('reset-password')
    .description('give the admin account a new password and print it once; its sessions end (admin.password.reset)')
    .action(() => cli.act('admin.password.reset', (inst) => inst.run('admin.password.reset', {})));
}
