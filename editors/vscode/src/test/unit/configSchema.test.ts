/**
 * package.json's server settings against schemas/config.schema.json, which is generated from
 * swictation_rpc/options.py: the same keys, types, unions, defaults and lower bounds.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { serverKeys } from '../../settings';
import { extensionRoot, repoRoot } from '../paths';

interface SchemaNode {
  type?: string | string[];
  anyOf?: SchemaNode[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  properties?: Record<string, SchemaNode>;
  $ref?: string;
  $defs?: Record<string, SchemaNode>;
}

const schemaPath = path.join(repoRoot, 'schemas', 'config.schema.json');
const missing = fs.existsSync(schemaPath) ? false : `${schemaPath} is missing (generate it: python -m swictation_rpc.schema)`;

const packageJson = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, SchemaNode> } };
};
const properties = packageJson.contributes.configuration.properties;

/** Leaf settings of the schema by dotted camelCase key (`vad.autoStopSilenceMs`). */
function leaves(schema: SchemaNode): Map<string, SchemaNode> {
  const result = new Map<string, SchemaNode>();
  const walk = (props: Record<string, SchemaNode>, prefix: string) => {
    for (const [key, node] of Object.entries(props)) {
      const target = node.$ref ? schema.$defs?.[node.$ref.split('/').pop() as string] : undefined;
      if (target?.properties) {
        walk(target.properties, `${prefix}${key}.`);
      } else {
        result.set(`${prefix}${key}`, node);
      }
    }
  };
  walk(schema.properties ?? {}, '');
  return result;
}

function types(node: SchemaNode): string[] {
  const own = node.type === undefined ? [] : Array.isArray(node.type) ? node.type : [node.type];
  return [...own, ...(node.anyOf ?? []).flatMap(types)].sort();
}

function enumOf(node: SchemaNode): unknown[] | undefined {
  return node.enum ?? node.anyOf?.find((n) => n.enum)?.enum;
}

/** The smallest allowed value, with integer exclusive bounds made inclusive (> 0 is >= 1). */
function lowerBound(node: SchemaNode): number | undefined {
  const isInteger = types(node).includes('integer');
  if (node.exclusiveMinimum !== undefined) {
    return isInteger ? node.exclusiveMinimum + 1 : node.exclusiveMinimum;
  }
  return node.minimum;
}

function exclusiveLowerBound(node: SchemaNode): boolean {
  return node.exclusiveMinimum !== undefined && !types(node).includes('integer');
}

describe('package.json settings match schemas/config.schema.json', { skip: missing }, () => {
  const schema: SchemaNode = missing ? {} : (JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as SchemaNode);
  const schemaLeaves = leaves(schema);
  const keys = serverKeys(Object.keys(properties));

  test('the same settings', () => {
    assert.deepEqual(keys, [...schemaLeaves.keys()].sort());
  });

  for (const key of keys) {
    test(`swictation.${key}: type, union, default and bounds`, () => {
      const ours = properties[`swictation.${key}`];
      const theirs = schemaLeaves.get(key);
      assert.ok(theirs, `${key} is not in the schema`);
      assert.deepEqual(types(ours), types(theirs), 'type');
      assert.deepEqual(ours.enum, enumOf(theirs), 'enum');
      assert.deepEqual(ours.default, theirs.default, 'default');
      assert.equal(lowerBound(ours), lowerBound(theirs), 'lower bound');
      assert.equal(exclusiveLowerBound(ours), exclusiveLowerBound(theirs), 'exclusive lower bound');
      assert.equal(ours.maximum, theirs.maximum, 'maximum');
    });
  }
});
