/**
 * list.delete and customfield.delete on lists longer than a run (DELETE_CHUNK_ROWS, small here): everything goes, the
 * reply is as before, and no DELETE removes more than a run's rows (src/lists/purge.ts). One DELETE of a
 * 1,000,000-member list took 13.5 s on MariaDB, past DB_QUERY_TIMEOUT_MS.
 */
import { deletesDuring, sizes } from '../helpers/delete-sizes';
import { Harness, startHarness } from '../helpers/harness';
import { as, bulkSubscribers, makeField, makeList, owner } from './fixtures';

const RUN = 7;
const MEMBERS = 40;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ DELETE_CHUNK_ROWS: String(RUN) });
});
afterAll(async () => {
  await h.close();
});

/** A list of MEMBERS members, each with a value in two fields, and a few list-scoped suppressions. */
async function longList(o: Awaited<ReturnType<typeof owner>>) {
  const db = h.services.db;
  const listId = await makeList(h, o);
  const fields = [await makeField(h, o, listId, 'City'), await makeField(h, o, listId, 'Plan')];
  await bulkSubscribers(db, listId, MEMBERS, `m${listId}-`, 'example.com');
  const members: number[] = await db('subscribers').where({ list_id: listId }).pluck('id');
  await db('subscriber_values').insert(members.flatMap((subscriber_id) => fields.map((field_id) => ({ subscriber_id, field_id, value: 'x' }))));
  expect(await as(h, o)('suppression.import', { ListID: listId, EmailAddresses: Array.from({ length: 10 }, (_, i) => `s${i}@example.com`) })).toMatchObject({
    Success: true,
  });
  return { listId, fields, members };
}

const count = async (table: string, where: Record<string, unknown>) => Number((await h.services.db(table).where(where).count({ n: '*' }).first())!.n);

it('list.delete removes a long list with its members, values, fields and suppressions, a run at a time', async () => {
  const o = await owner(h);
  const gone = await longList(o);
  const kept = await longList(o);
  const { result, removed } = await deletesDuring(h.services.db, () => as(h, o)('list.delete', { ListID: gone.listId }));
  expect(result).toEqual({ Success: true, ErrorCode: 0, ErrorText: '' });
  const s = sizes(removed);
  expect(s.subscribers).toEqual({ max: RUN, total: MEMBERS });
  expect(s.subscriber_values).toEqual({ max: 2 * RUN, total: 2 * MEMBERS });
  expect(s.suppression_entries).toEqual({ max: RUN, total: 10 });
  expect(await count('lists', { id: gone.listId })).toBe(0);
  expect(await count('subscribers', { list_id: gone.listId })).toBe(0);
  expect(await h.services.db('subscriber_values').whereIn('field_id', gone.fields).first()).toBeUndefined();
  expect(await count('list_custom_fields', { list_id: gone.listId })).toBe(0);
  expect(await count('suppression_entries', { list_id: gone.listId })).toBe(0);
  // The other list keeps everything.
  expect(await count('subscribers', { list_id: kept.listId })).toBe(MEMBERS);
  expect(await h.services.db('subscriber_values').whereIn('field_id', kept.fields).count({ n: '*' })).toEqual([{ n: 2 * MEMBERS }]);
  expect(await count('suppression_entries', { list_id: kept.listId })).toBe(10);
  expect(await as(h, o)('list.get', { ListID: gone.listId })).toMatchObject({ ErrorCode: [1] });
});

it("customfield.delete removes a field's values over a long list a run at a time, and only that field's", async () => {
  const o = await owner(h);
  const list = await longList(o);
  const [field, other] = list.fields;
  const { result, removed } = await deletesDuring(h.services.db, () => as(h, o)('customfield.delete', { CustomFieldID: field }));
  expect(result).toEqual({ Success: true, ErrorCode: 0, ErrorText: '' });
  expect(sizes(removed).subscriber_values).toEqual({ max: RUN, total: MEMBERS });
  expect(await count('list_custom_fields', { id: field })).toBe(0);
  expect(await count('subscriber_values', { field_id: field })).toBe(0);
  expect(await count('subscriber_values', { field_id: other })).toBe(MEMBERS);
  expect(await count('subscribers', { list_id: list.listId })).toBe(MEMBERS);
});
