import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commands } from '../commands';
import { defineCommand, lazyCommandTable } from '../src/command';
import { Validator } from '../src/validation';

const command = (errors: Record<number, string>) => ({ 'x.get': defineCommand({ name: 'x.get', auth: 'none', errors, run: async () => ({}) }) });

describe('the schema startup check', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-schemas-'));
    fs.writeFileSync(
      path.join(dir, 'x.get.json'),
      JSON.stringify({ type: 'object', properties: { page: { type: 'integer', 'x-code': 1, 'x-invalid-code': 2 } } }),
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a schema whose codes the command does not declare, at start (compileAll) or at its first use', () => {
    const refusal = "schemas/x.get.json: codes 2 are not in the command's errors";
    expect(() => new Validator(command({ 1: 'Missing Page' }), dir).compileAll()).toThrow(refusal);
    expect(() => new Validator(command({ 1: 'Missing Page' }), dir).check(command({})['x.get'], { page: 1 })).toThrow(refusal);
    expect(() => new Validator(command({ 1: 'Missing Page', 2: 'Invalid Page' }), dir).compileAll()).not.toThrow();
  });

  it('refuses a table whose module is named for another command, when it loads and at start (compileAll)', () => {
    const table = lazyCommandTable({
      'x.get': () => ({ default: defineCommand({ name: 'x.list', auth: 'none', errors: { 1: 'Missing Page', 2: 'Invalid Page' }, run: async () => ({}) }) }),
    });
    expect(Object.keys(table)).toEqual(['x.get']);
    expect(() => table['x.get']).toThrow('commands/index.ts: x.get maps to a module named x.list');
    expect(() => new Validator(table, dir).compileAll()).toThrow('commands/index.ts: x.get maps to a module named x.list');
  });

  it('loads a command module only when its command is first looked up, not to list names or build the Validator', () => {
    const loads: string[] = [];
    const def = (name: string) => defineCommand({ name, auth: 'none', errors: { 1: 'Missing Page', 2: 'Invalid Page' }, run: async () => ({}) });
    const table = lazyCommandTable({
      'x.get': () => (loads.push('x.get'), { default: def('x.get') }),
      'x.put': () => (loads.push('x.put'), { default: def('x.put') }),
    });
    fs.writeFileSync(path.join(dir, 'x.put.json'), JSON.stringify({ type: 'object' }));
    try {
      const v = new Validator(table, dir);
      expect(Object.keys(table)).toEqual(['x.get', 'x.put']);
      expect(loads).toEqual([]);
      expect(v.check(table['x.get'], { page: 'x' })).toEqual([2]);
      expect(table['x.get']).toBe(table['x.get']);
      expect(loads).toEqual(['x.get']);
      v.compileAll();
      expect(loads).toEqual(['x.get', 'x.put']);
    } finally {
      fs.rmSync(path.join(dir, 'x.put.json'));
    }
  });

  it("compiles every command's schema, as the API role does before it listens", () => {
    const v = new Validator(commands);
    expect(() => v.compileAll()).not.toThrow();
    expect(v.check(commands['user.login'], {})).not.toEqual([]);
  });

  it('refuses a schema ajv cannot compile, at start (compileAll) or at its first use', () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-schemas-'));
    try {
      fs.writeFileSync(path.join(bad, 'x.get.json'), JSON.stringify({ type: 'object', properties: { page: { type: 'integr', 'x-code': 1 } } }));
      expect(() => new Validator(command({ 1: 'Missing Page' }), bad).compileAll()).toThrow(/schema is invalid/);
      expect(() => new Validator(command({ 1: 'Missing Page' }), bad).check(command({})['x.get'], {})).toThrow(/type must be JSONType.*: integr/);
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('checks every schema against the meta-schema at start, also where strict compilation would let it through', () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-schemas-'));
    try {
      // A draft-07 keyword with a value of the wrong shape that ajv's compiler tolerates: only the meta-schema refuses it.
      fs.writeFileSync(path.join(bad, 'x.get.json'), JSON.stringify({ type: 'object', title: 5, properties: { page: { type: 'integer', 'x-code': 1 } } }));
      expect(() => new Validator(command({ 1: 'Missing Page' }), bad).compileAll()).toThrow('schemas/x.get.json: schema is invalid: data/title must be string');
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('answers the invalid-value code for "Infinity", which ajv coerces past minimum and maximum', () => {
    const v = new Validator(command({ 1: 'Missing Page', 2: 'Invalid Page' }), dir);
    const cmd = command({})['x.get'];
    expect(v.check(cmd, { page: 'Infinity' })).toEqual([2]);
    expect(v.check(cmd, { page: Infinity })).toEqual([2]);
    expect(v.check(cmd, { page: '7' })).toEqual([]);
  });
});

describe("the command table's schemas", () => {
  it('bound every number a command takes: an offset with no maximum reached SQLite and answered 500', () => {
    const dir = path.join(__dirname, '../schemas');
    const unbounded: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (!node || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      const types = ([] as unknown[]).concat(o.type ?? []);
      const numeric = types.some((t) => t === 'integer' || t === 'number') && !types.includes('boolean');
      if (numeric && o.maximum === undefined && o.exclusiveMaximum === undefined && o.enum === undefined) unbounded.push(at);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}.${k}`);
    };
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) walk(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), f);
    // user.webhook.stats clamps Days to 1-365 itself, as its contract says (a larger value is not an error there).
    expect(unbounded).toEqual(['user.webhook.stats.json.properties.days']);
  });
});
