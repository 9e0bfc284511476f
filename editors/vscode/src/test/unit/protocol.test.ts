/**
 * src/protocol.ts against schemas/openrpc.json (generated from swictation_rpc/protocol.py): the
 * same methods, the same fields per type, and every field the server requires is required here.
 * protocol.ts is read with the TypeScript compiler API, so the check sees the declarations
 * themselves, not a copy of them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import * as ts from 'typescript';

import { POLICY } from '../../errors';
import * as protocol from '../../protocol';
import { extensionRoot, repoRoot } from '../paths';

/** The parts of schemas/openrpc.json read here. */
interface OpenRpc {
  methods: { name: string }[];
  components: {
    schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    errors: Record<string, unknown>;
  };
}

interface Declared {
  fields: Map<string, { optional: boolean }>;
  extends: string[];
}

function declaredInterfaces(file: string): Map<string, Declared> {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const result = new Map<string, Declared>();
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node)) {
      return;
    }
    const fields = new Map<string, { optional: boolean }>();
    for (const member of node.members) {
      if (ts.isPropertySignature(member) && member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name))) {
        fields.set(member.name.text, { optional: member.questionToken !== undefined });
      }
    }
    const parents = (node.heritageClauses ?? []).flatMap((h) => h.types.map((t) => t.expression.getText(source)));
    result.set(node.name.text, { fields, extends: parents });
  });
  return result;
}

function allFields(name: string, interfaces: Map<string, Declared>): Map<string, { optional: boolean }> {
  const own = interfaces.get(name);
  if (!own) {
    return new Map();
  }
  const fields = new Map<string, { optional: boolean }>();
  for (const parent of own.extends) {
    for (const [k, v] of allFields(parent, interfaces)) {
      fields.set(k, v);
    }
  }
  for (const [k, v] of own.fields) {
    fields.set(k, v);
  }
  return fields;
}

const openrpcPath = path.join(repoRoot, 'schemas', 'openrpc.json');
const missing = fs.existsSync(openrpcPath) ? false : `${openrpcPath} is missing (generate it: python -m swictation_rpc.schema)`;

describe('protocol.ts matches schemas/openrpc.json', { skip: missing }, () => {
  const openrpc: OpenRpc = missing ? { methods: [], components: { schemas: {}, errors: {} } } : (JSON.parse(fs.readFileSync(openrpcPath, 'utf8')) as OpenRpc);
  const schemas = openrpc.components.schemas;
  const interfaces = declaredInterfaces(path.join(extensionRoot, 'src', 'protocol.ts'));

  test('the same methods and notifications', () => {
    const ours = [...protocol.REQUESTS, ...protocol.NOTIFICATIONS].sort();
    assert.deepEqual(ours, openrpc.methods.map((m) => m.name).sort());
  });

  for (const [name, schema] of Object.entries(schemas)) {
    test(`${name}: same fields, required ones required`, () => {
      assert.ok(interfaces.has(name), `protocol.ts has no interface ${name}`);
      const fields = allFields(name, interfaces);
      assert.deepEqual([...fields.keys()].sort(), Object.keys(schema.properties ?? {}).sort());
      for (const required of schema.required ?? []) {
        assert.equal(fields.get(required)?.optional, false, `${name}.${required} is required by the server`);
      }
    });
  }

  test('every error kind the server declares has a severity policy', () => {
    for (const kind of Object.keys(openrpc.components.errors)) {
      assert.ok(POLICY[kind], `errors.ts POLICY has no entry for ${kind}`);
    }
  });
});
