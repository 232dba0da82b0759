/**
 * customfield.delete — delete custom fields of the caller's lists with their stored values: CustomFieldID,
 * or CustomFields as a comma-separated list (Octeth's CustomFields.Delete). All or nothing.
 * Errors: 1 missing or malformed ids, 2 a field not found (another user's included; nothing is deleted).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

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
    await ctx.db.transaction(async (trx) => {
      const owned = await trx('list_custom_fields as f')
        .join('lists as l', 'l.id', 'f.list_id')
        .where('l.user_id', ctx.user!.id)
        .whereIn('f.id', ids)
        .pluck('f.id');
      if (owned.length !== ids.length) throw new CommandError(2);
      await trx('subscriber_values').whereIn('field_id', ids).delete();
      await trx('list_custom_fields').whereIn('id', ids).delete();
    });
    return { ErrorText: '' };
  },
});
