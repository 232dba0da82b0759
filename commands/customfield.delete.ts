/**
 * customfield.delete — delete custom fields of the caller's lists with their stored values: CustomFieldID,
 * or CustomFields as a comma-separated list (Octeth's CustomFields.Delete). Errors: 1 missing or malformed ids, 2 a
 * field not found (another user's included; nothing is deleted). Values go a run of members at a time
 * (src/lists/purge.ts): a deletion cut short leaves the fields with some members' values gone; the call again ends it.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { purgeFieldValues } from '../src/lists/purge';

export default defineCommand({
  name: 'customfield.delete',
  auth: 'user',
  permission: 'CustomField.Delete',
  errors: { 1: 'Custom field ids are missing (CustomFieldID or CustomFields)', 2: 'Custom field not found' },
  async run(p, ctx) {
    const raw = p.customfieldid !== undefined ? String(p.customfieldid) : p.customfields !== undefined ? String(p.customfields) : '';
    const parts = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length || parts.some((s) => !/^\d{1,10}$/.test(s))) throw new CommandError(1);
    const ids = [...new Set(parts.map(Number))];
    const owned: { id: number; list_id: number }[] = await ctx
      .db('list_custom_fields as f')
      .join('lists as l', 'l.id', 'f.list_id')
      .where('l.user_id', ctx.user!.id)
      .whereIn('f.id', ids)
      .select('f.id', 'f.list_id');
    if (owned.length !== ids.length) throw new CommandError(2);
    for (const field of owned) await purgeFieldValues(ctx.db, ctx.config.deleteChunkRows, { id: Number(field.id), list_id: Number(field.list_id) });
    await ctx.db.transaction(async (trx) => {
      // Values written behind the walk (a member updated meanwhile) go with the fields.
      await trx('subscriber_values').whereIn('field_id', ids).delete();
      await trx('list_custom_fields').whereIn('id', ids).delete();
    });
    return { ErrorText: '' };
  },
});
