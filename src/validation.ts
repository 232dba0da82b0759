import fs from 'node:fs';
import path from 'node:path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import type { CommandDef, Params } from './command';
import { projectRoot } from './project-root';

/**
 * One JSON Schema per command under schemas/. Property names are lowercase (the door lowercases keys).
 * Each property names the command's own code for a missing value (`x-code`) and, where the contract
 * has one, for a present but malformed value (`x-invalid-code`).
 */
interface PropSchema {
  'x-code'?: number;
  'x-invalid-code'?: number;
  /** Free text that is never JSON-decoded when it arrives as a form field (a schema without a type, e.g. sendemail's Subject). */
  'x-text'?: boolean;
  type?: string | string[];
  $ref?: string;
  maxItems?: number;
}

interface CompiledSchema {
  schema: Record<string, unknown>;
  /** Compiled at first use: ajv's compile of all ~140 schemas costs 100–300 ms per Validator, and a CLI run or a role uses a few. */
  validate: ValidateFunction | null;
  props: Record<string, PropSchema>;
}

export class Validator {
  /** Each command's schema, read and checked at its first use (or by compileAll). */
  private readonly compiled = new Map<string, CompiledSchema>();
  private readonly names: Set<string>;
  private readonly ajv: Ajv;

  /**
   * Refuses a command without a schema or a schema without a command. Each schema's own checks (lowercase properties,
   * codes the command declares) need its command module, which the table loads at first use (src/command.ts), so they
   * run when the command is first validated, and for all at once in compileAll() at the API role's start.
   */
  constructor(
    private readonly commands: Record<string, CommandDef>,
    private readonly schemaDir = path.join(projectRoot(), 'schemas'),
  ) {
    const ajv = (this.ajv = new Ajv({
      allErrors: true,
      verbose: true,
      coerceTypes: true,
      useDefaults: true,
      strict: true,
      allowUnionTypes: true,
      strictRequired: false,
      // Checking each schema against the JSON Schema meta-schema means compiling that meta-schema first (~50 ms of a
      // cold process, paid by every CLI run and every jest test file). compileAll() still checks every schema against
      // it at the API role's start; a lazily compiled schema is still refused by strict mode's own keyword checks.
      validateSchema: false,
      // Without ajv's optimising pass over the generated code, compiling takes half the CPU (all 142 schemas cold:
      // 480-615 ms with it, 250-305 ms without; the API role compiles them all at start) and validating measured the same.
      code: { optimize: false },
    }));
    ajv.addVocabulary(['x-code', 'x-invalid-code', 'x-text']);
    const files = fs.readdirSync(schemaDir).filter((f) => f.endsWith('.json'));
    const defs = files.find((f) => f === '_defs.json');
    if (defs) ajv.addSchema(JSON.parse(fs.readFileSync(path.join(schemaDir, defs), 'utf8')), '_defs.json');
    const names = (this.names = new Set(files.filter((f) => f !== '_defs.json').map((f) => f.replace(/\.json$/, ''))));
    const missing = Object.keys(commands).filter((c) => !names.has(c));
    const orphans = [...names].filter((n) => !Object.prototype.hasOwnProperty.call(commands, n));
    if (missing.length || orphans.length) {
      throw new Error(
        [missing.length ? `commands without a schema: ${missing.join(', ')}` : '', orphans.length ? `schemas without a command: ${orphans.join(', ')}` : '']
          .filter(Boolean)
          .join('; '),
      );
    }
  }

  /**
   * Loads every command module and compiles every schema now, so a bad table or a schema ajv refuses stops the process
   * at start (the API role) instead of failing its command's first request.
   */
  compileAll(): void {
    for (const name of this.names) {
      const c = this.schemaOf(name);
      if (!this.ajv.validateSchema(c.schema)) throw new Error(`schemas/${name}.json: schema is invalid: ${this.ajv.errorsText(this.ajv.errors)}`);
      c.validate ??= this.ajv.compile(c.schema);
    }
  }

  /** A command's schema, read and checked against its command at first use. */
  private schemaOf(name: string): CompiledSchema {
    const known = this.compiled.get(name);
    if (known) return known;
    if (!this.names.has(name)) throw new Error(`no schema for ${name}`);
    // Loads the command's module: the table refuses one named for another command (src/command.ts).
    const { errors } = this.commands[name];
    const schema = JSON.parse(fs.readFileSync(path.join(this.schemaDir, `${name}.json`), 'utf8'));
    const props = (schema.properties ?? {}) as Record<string, PropSchema>;
    for (const key of Object.keys(props)) {
      if (key !== key.toLowerCase()) throw new Error(`schemas/${name}.json: property "${key}" must be lowercase`);
    }
    // A code the command does not declare would answer with no text of its own ("Request failed").
    const undeclared = [...schemaCodes(schema)].filter((c) => !Object.prototype.hasOwnProperty.call(errors, c));
    if (undeclared.length) throw new Error(`schemas/${name}.json: codes ${undeclared.join(', ')} are not in the command's errors`);
    const c: CompiledSchema = { schema, validate: null, props };
    this.compiled.set(name, c);
    return c;
  }

  /** Does the command's schema declare this (lowercase) parameter a string? Such values are never JSON-decoded. */
  declaresText(command: CommandDef, key: string): boolean {
    const prop = this.schemaOf(command.name).props[key];
    if (!prop) return false;
    if (prop['x-text'] || prop.type === 'string') return true;
    return Array.isArray(prop.type) && prop.type.includes('string') && !prop.type.includes('array') && !prop.type.includes('object');
  }

  /** Returns the command's codes for every failing property, sorted and unique; [] when valid. */
  check(command: CommandDef, params: Params): number[] {
    const c = this.schemaOf(command.name);
    const crowded = overfullArrays(params, c.props);
    if (crowded.length) return crowded;
    const before = { ...params };
    const validate = (c.validate ??= this.ajv.compile(c.schema));
    const valid = validate(params);
    const codes = new Set<number>();
    for (const err of valid ? [] : (validate.errors ?? [])) {
      // Combinators only summarise the property errors reported beside them.
      if (err.keyword === 'if' || err.keyword === 'anyOf' || err.keyword === 'oneOf') continue;
      codes.add(codeFor(err, c.props, before, command.name));
    }
    for (const code of nonFiniteCodes(params, c.props)) codes.add(code);
    for (const code of nonDecimalIdCodes(before, c.props)) codes.add(code);
    return [...codes].sort((a, b) => a - b);
  }
}

/**
 * The codes of top-level arrays longer than their schema's maxItems, found before ajv runs: with allErrors it checks
 * every item past the limit anyway, and 10 million `[1,1,…]` Messages made 10 million error objects (9.7 s, 1.8 GB).
 */
function overfullArrays(params: Params, props: Record<string, PropSchema>): number[] {
  const codes = new Set<number>();
  for (const [key, p] of Object.entries(props)) {
    const v = params[key];
    if (p.maxItems === undefined || !Array.isArray(v) || v.length <= p.maxItems) continue;
    const code = p['x-invalid-code'] ?? p['x-code'];
    if (code !== undefined) codes.add(code);
  }
  return [...codes].sort((a, b) => a - b);
}

/** Every x-code and x-invalid-code in a schema, at any depth. */
function schemaCodes(schema: unknown, out = new Set<number>()): Set<number> {
  if (schema && typeof schema === 'object') {
    for (const [k, v] of Object.entries(schema)) {
      if ((k === 'x-code' || k === 'x-invalid-code') && typeof v === 'number') out.add(v);
      else schemaCodes(v, out);
    }
  }
  return out;
}

function codeFor(err: ErrorObject, props: Record<string, PropSchema>, raw: Params, name: string): number {
  const top = err.keyword === 'required' && err.instancePath === '' ? String(err.params.missingProperty) : (err.instancePath.split('/')[1] ?? '');
  // The nearest schema with its own code wins: a nested property, an array's items, or the top-level property.
  const parent = (err.parentSchema ?? {}) as PropSchema & { properties?: Record<string, PropSchema> };
  let own: PropSchema | undefined;
  if (err.keyword === 'required') own = parent.properties?.[String(err.params.missingProperty)] ?? (parent['x-code'] !== undefined ? parent : undefined);
  else if (err.instancePath.split('/').length > 2 && parent['x-code'] !== undefined) own = parent;
  const p = own && own['x-code'] !== undefined ? own : props[top];
  if (!p || p['x-code'] === undefined) throw new Error(`schemas/${name}.json: no x-code for "${top}" (${err.keyword} at ${err.instancePath || '/'})`);
  const value = err.keyword === 'required' ? undefined : err.data;
  const absent =
    value === undefined || value === null || value === '' || (err.instancePath.split('/').length === 2 && (raw[top] === undefined || raw[top] === ''));
  return absent || p['x-invalid-code'] === undefined ? p['x-code'] : p['x-invalid-code'];
}

/**
 * ajv's type coercion turns "Infinity" or "1e999" into a non-finite number and then skips minimum/maximum for it
 * (ajv-validator/ajv#2212, unfixed in 8.x), and a JSON body's 1e999 parses as Infinity: either would reach a
 * handler as an "integer". Every property holding one answers its invalid-value code; a property without codes
 * (no type either, so never coerced) is left to its handler.
 */
function nonFiniteCodes(params: Params, props: Record<string, PropSchema>): number[] {
  const codes: number[] = [];
  const bad = (v: unknown, depth: number): boolean =>
    typeof v === 'number' ? !Number.isFinite(v) : depth < 8 && v !== null && typeof v === 'object' && Object.values(v).some((x) => bad(x, depth + 1));
  for (const [key, p] of Object.entries(props)) {
    if (!Object.prototype.hasOwnProperty.call(params, key) || !bad(params[key], 0)) continue;
    const code = p['x-invalid-code'] ?? p['x-code'];
    if (code !== undefined) codes.push(code);
  }
  return codes;
}

const ID_REF = '_defs.json#/definitions/id';
const DECIMAL = /^\s*[0-9]+\s*$/;

/**
 * ajv's type coercion reads `true` as 1 and "0x1F", "0b11", "1e3" or "5.0" as numbers, so an id written that way (a
 * client's bug, a sloppy form) named a real object of the caller's, and a destructive command acted on it
 * (emailgateway.deleteapi APIKeyID=true revoked key 1). An id property given anything but an integer or a string of
 * decimal digits answers its invalid-value code. Absent values, arrays and objects are left to the schema.
 */
function nonDecimalIdCodes(raw: Params, props: Record<string, PropSchema>): number[] {
  const codes: number[] = [];
  for (const [key, p] of Object.entries(props)) {
    if (p.$ref !== ID_REF || !Object.prototype.hasOwnProperty.call(raw, key)) continue;
    const v = raw[key];
    if (v === undefined || v === null || v === '' || typeof v === 'object') continue;
    if (typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && DECIMAL.test(v)) continue;
    const code = p['x-invalid-code'] ?? p['x-code'];
    if (code !== undefined) codes.push(code);
  }
  return codes;
}
