import type { Knex } from 'knex';
import type { Db } from '../db';
import type { Params } from '../command';

/** One custom-field definition of a list. Values live in subscriber_values, one row per (subscriber, field). */
export interface FieldRow {
  id: number;
  list_id: number;
  name: string;
  field_type: string;
  alias: string | null;
  default_value: string;
  created_at: number;
}

export const FIELD_TYPES = ['Single line', 'Paragraph text', 'Drop down', 'Radio button', 'Checkboxes', 'Date field', 'Time field', 'Hidden field'];

/** A merge-tag alias: a letter, then letters, digits or underscores (it is used as `{{ Subscriber:<Alias> }}`). */
export const ALIAS_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Names personalization already gives every subscriber; an alias may not shadow them. */
export function isReservedAlias(alias: string): boolean {
  return ['emailaddress', 'subscriberid', 'listid'].includes(alias.toLowerCase()) || /^customfield\d+$/i.test(alias);
}

export async function fieldsOf(db: Db | Knex.Transaction, listId: number): Promise<FieldRow[]> {
  return db('list_custom_fields').where({ list_id: listId }).orderBy('id');
}

export function presentField(f: FieldRow): Record<string, unknown> {
  return {
    CustomFieldID: Number(f.id),
    ListID: Number(f.list_id),
    FieldName: f.name,
    FieldType: f.field_type,
    MergeTagAlias: f.alias ?? '',
    DefaultValue: f.default_value,
  };
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  // Checkbox groups arrive as arrays of options.
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(',');
  return undefined;
}

export interface SubmittedValues {
  values: Map<number, string>;
  /** Field ids (as sent) that are not this list's fields. */
  unknown: string[];
  /** A value that is not text (an object, a nested array), or longer than MAX_VALUE_BYTES. */
  badValue: boolean;
}

/**
 * The most a value may hold: subscriber_values.value is a TEXT column, 65,535 bytes on MySQL/MariaDB, which refuses
 * more (ER_DATA_TOO_LONG). Counted in UTF-8 bytes: 65,000 characters of `é` or `😀` are two or four times that.
 */
export const MAX_VALUE_BYTES = 65_535;

/**
 * Custom-field values from any of the spellings clients use: `CustomFields: {"<id>": v}` (subscriber.create),
 * `Fields: {"CustomField<id>": v}` (subscriber.update), and top-level `CustomField<id>` (subscriber.subscribe).
 * Keys arrive lowercased from the door.
 */
export function submittedValues(p: Params, fields: FieldRow[]): SubmittedValues {
  const byId = new Map(fields.map((f) => [Number(f.id), f]));
  const out: SubmittedValues = { values: new Map(), unknown: [], badValue: false };
  const take = (key: string, raw: unknown) => {
    const m = /^(?:customfield)?(\d{1,10})$/.exec(key.trim().toLowerCase());
    const id = m ? Number(m[1]) : NaN;
    if (!byId.has(id)) {
      out.unknown.push(m ? m[1] : key);
      return;
    }
    const v = scalar(raw);
    if (v === undefined || Buffer.byteLength(v, 'utf8') > MAX_VALUE_BYTES) out.badValue = true;
    else out.values.set(id, v);
  };
  for (const container of [p.customfields, p.fields]) {
    if (container === undefined || container === null || container === '') continue;
    let obj = container;
    // Form posts carry structured values as JSON strings.
    if (typeof obj === 'string') {
      try {
        obj = JSON.parse(obj);
      } catch {
        out.badValue = true;
        continue;
      }
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      out.badValue = true;
      continue;
    }
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) take(k, v);
  }
  for (const [k, v] of Object.entries(p)) if (/^customfield\d+$/.test(k)) take(k, v);
  return out;
}

/** Writes (inserts or replaces) a subscriber's values for the given fields. */
export async function saveValues(trx: Db | Knex.Transaction, subscriberId: number, values: Map<number, string>): Promise<void> {
  if (!values.size) return;
  const rows = [...values].map(([field_id, value]) => ({ subscriber_id: subscriberId, field_id, value }));
  await trx('subscriber_values').insert(rows).onConflict(['subscriber_id', 'field_id']).merge(['value']);
}

/** Stored values of many subscribers: subscriber id → field id → value. */
export async function valuesFor(db: Db | Knex.Transaction, subscriberIds: number[]): Promise<Map<number, Map<number, string>>> {
  const out = new Map<number, Map<number, string>>();
  for (let i = 0; i < subscriberIds.length; i += 1000) {
    const rows = await db('subscriber_values')
      .whereIn('subscriber_id', subscriberIds.slice(i, i + 1000))
      .select('subscriber_id', 'field_id', 'value');
    for (const r of rows as { subscriber_id: number; field_id: number; value: string }[]) {
      const m = out.get(Number(r.subscriber_id)) ?? new Map<number, string>();
      m.set(Number(r.field_id), r.value);
      out.set(Number(r.subscriber_id), m);
    }
  }
  return out;
}

/** Each field's value for one subscriber: the stored value, else the field's default, else ''. */
export function effectiveValues(fields: FieldRow[], stored: Map<number, string> | undefined): Map<number, string> {
  return new Map(fields.map((f) => [Number(f.id), stored?.get(Number(f.id)) ?? f.default_value ?? '']));
}
