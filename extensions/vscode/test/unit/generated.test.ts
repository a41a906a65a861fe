// The committed API types are what rpc-schema/schema/api.json generates today.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCodes, NOTIFICATIONS, REQUEST_METHODS } from '../../src/generated/api';

const root = path.resolve(__dirname, '../..');

describe('generated API types', () => {
  it('are fresh (npm run generate refreshes them)', () => {
    const check = spawnSync(process.execPath, ['scripts/generate-api.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  it('cover every method, notification and error code of the schema', () => {
    const api = JSON.parse(fs.readFileSync(path.join(root, '../../rpc-schema/schema/api.json'), 'utf8'));
    const requests = api.methods.filter((m: { kind: string }) => m.kind === 'request').map((m: { name: string }) => m.name);
    assert.deepEqual([...REQUEST_METHODS], requests);
    assert.deepEqual([...NOTIFICATIONS], api.methods.filter((m: { kind: string }) => m.kind === 'subscription').map((m: { notification: string }) => m.notification));
    assert.deepEqual(Object.entries(ErrorCodes), api.errors.map((e: { name: string; code: number }) => [e.name, e.code]));
  });
});
