import type { Knex } from 'knex';

/**
 * A domain's webhook signing key keeps its previous value for a while after regeneratesigningkey: calls are signed
 * with both until `previous_until` (src/webhooks/signing.ts), so receivers can switch keys without refusing calls.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_signing_keys', (t) => {
    t.text('previous_key_enc').nullable();
    t.bigInteger('previous_until').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_signing_keys', (t) => {
    t.dropColumn('previous_key_enc');
    t.dropColumn('previous_until');
  });
}
