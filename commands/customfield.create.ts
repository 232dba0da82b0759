/**
 * customfield.create — a custom field of one of the caller's lists (SubscriberListID or ListID). MergeTagAlias
 * names it in personalization (`{{ Subscriber:<Alias> }}`); `CustomField<ID>` always works.
 * Errors (arrays): 1 missing list id, 2 missing FieldName, 3 invalid FieldType, 6 list not found (another
 * user's included), 7 DefaultValue too long, 1000 alias already used in this list (or a standard field name),
 * 1001 alias has invalid characters.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isUniqueViolation } from '../src/db';
import { findOwnedList } from '../src/lists/lists';
import { ALIAS_PATTERN, FIELD_TYPES, isReservedAlias } from '../src/lists/fields';

export default defineCommand({
  name: 'customfield.create',
  auth: 'user',
  permission: 'CustomField.Create',
  arrayErrors: true,
  errors: {
    1: 'Missing subscriber list id (SubscriberListID)',
    2: 'Missing field name (FieldName)',
    3: `Invalid field type (one of: ${FIELD_TYPES.join(', ')})`,
    6: 'Subscriber list not found',
    7: 'DefaultValue is too long (at most 1000 characters)',
    1000: 'Merge tag alias code has been set for another custom field of this list (or is a standard field name)',
    1001: 'Merge tag alias code includes invalid characters (a letter, then letters, digits or _; at most 64)',
  },
  async run(p, ctx) {
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError([1]);
    const list = await findOwnedList(ctx.db, ctx.user!.id, listId);
    if (!list) throw new CommandError([6]);
    const name = String(p.fieldname ?? '').trim();
    const type = FIELD_TYPES.find(
      (t) =>
        t.toLowerCase() ===
        String(p.fieldtype ?? 'Single line')
          .trim()
          .toLowerCase(),
    );
    const alias = p.mergetagalias === undefined ? '' : String(p.mergetagalias).trim();
    const codes: number[] = [];
    if (!name) codes.push(2);
    if (!type) codes.push(3);
    if (alias && !ALIAS_PATTERN.test(alias)) codes.push(1001);
    else if (alias && isReservedAlias(alias)) codes.push(1000);
    if (codes.length) throw new CommandError(codes);
    if (alias) {
      const taken = await ctx.db('list_custom_fields').where({ list_id: list.id }).whereRaw('lower(alias) = ?', [alias.toLowerCase()]).first('id');
      if (taken) throw new CommandError([1000]);
    }
    try {
      const [id] = await ctx.db('list_custom_fields').insert({
        list_id: list.id,
        name: name.slice(0, 255),
        field_type: type,
        alias: alias || null,
        default_value: p.defaultvalue === undefined ? '' : String(p.defaultvalue),
        created_at: Date.now(),
      });
      return { ErrorText: '', CustomFieldID: Number(id) };
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandError([1000]);
      throw err;
    }
  },
});
