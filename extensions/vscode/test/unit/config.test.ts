// Where a launch's config comes from, and which target a launch uses without asking.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSource, configTemplate, launchTarget, pickerStart, prepareConfig, resolveParams } from '../../src/config';

const launch = (extra: Record<string, unknown> = {}) => ({ type: 'node', request: 'launch', name: 'app', ...extra });
const exists = (files: string[]) => (file: string) => files.includes(file);

describe('configSource', () => {
  it('takes the launch\'s own tether block first', () => {
    const source = configSource(launch({ tether: { target: 'pid/1' } }), '/w', exists(['/w/.tether/config.json']));
    assert.deepEqual(source, { kind: 'inline', config: { target: 'pid/1' } });
    assert.deepEqual(prepareConfig(source), { config: { target: 'pid/1' } });
    assert.match(resolveParams(source)!.text!, /"target": "pid\/1"/);
  });

  it('takes a path in the tether block relative to the folder', () => {
    assert.deepEqual(configSource(launch({ tether: 'ci/tether.json' }), '/w', exists([])), { kind: 'file', path: '/w/ci/tether.json' });
  });

  it('finds the workspace\'s .tether/config.json, else uses no config', () => {
    const found = configSource(launch(), '/w', exists(['/w/.tether/config.json']));
    assert.deepEqual(found, { kind: 'file', path: '/w/.tether/config.json' });
    assert.deepEqual(resolveParams(found), { path: '/w/.tether/config.json' });
    assert.deepEqual(prepareConfig(found), { config_path: '/w/.tether/config.json' });
    assert.deepEqual(configSource(launch(), '/w', exists([])), { kind: 'none' });
    assert.equal(resolveParams({ kind: 'none' }), undefined);
  });
});

describe('launchTarget', () => {
  const selected = { target: 'deployment/orders', context: 'prod', namespace: 'shop', local: false };

  it('uses the launch block\'s target, then the selected one, then the config file\'s, else asks', () => {
    assert.deepEqual(launchTarget({ kind: 'inline', config: {} }, { target: 'pid/1' }, selected), { target: 'pid/1' });
    assert.deepEqual(launchTarget({ kind: 'file', path: '/c' }, { target: 'pid/2' }, selected), { target: 'deployment/orders', context: 'prod', namespace: 'shop' });
    assert.deepEqual(launchTarget({ kind: 'file', path: '/c' }, { target: 'pid/2' }, undefined), { target: 'pid/2' });
    assert.equal(launchTarget({ kind: 'file', path: '/c' }, { target: null }, undefined), undefined);
    assert.equal(launchTarget({ kind: 'none' }, undefined, undefined), undefined);
  });

  it('sends no context or namespace with a local target', () => {
    assert.deepEqual(launchTarget({ kind: 'none' }, undefined, { target: 'pid/9', local: true }), { target: 'pid/9' });
  });
});

describe('pickerStart', () => {
  it('starts where the config says, else where the settings say', () => {
    assert.deepEqual(pickerStart({ context: 'a', namespace: 'n' }, { context: 'b', namespace: 'm' }), { context: 'a', namespace: 'n' });
    assert.deepEqual(pickerStart({ context: null }, { context: 'b', namespace: '' }), { context: 'b', namespace: undefined });
  });

  it('otherwise starts where the last cluster target was picked', () => {
    const recent = [{ target: 'pid/1', local: true }, { target: 'deployment/orders', context: 'kind', namespace: 'shop', local: false }];
    assert.deepEqual(pickerStart(undefined, {}, recent), { context: 'kind', namespace: 'shop' });
    assert.deepEqual(pickerStart(undefined, { namespace: 'dev' }, recent), { context: undefined, namespace: 'dev' });
  });
});

describe('configTemplate', () => {
  it('is a JSON object without a target, so launches still ask', () => {
    const template = JSON.parse(configTemplate());
    assert.equal(typeof template, 'object');
    assert.equal(template.target, undefined);
  });
});
