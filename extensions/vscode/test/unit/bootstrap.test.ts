// Finding tether: the setting, else PATH, else the bundled binary; a clear message otherwise.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findTether } from '../../src/bootstrap';

const executables = (files: string[]) => (file: string) => files.includes(file);

describe('findTether', () => {
  it('uses tether.path when set', () => {
    assert.deepEqual(findTether('/opt/t/tether', '/usr/bin', '/ext/bin/tether', executables(['/opt/t/tether', '/usr/bin/tether'])), { path: '/opt/t/tether', from: 'setting' });
  });

  it('says which setting is wrong instead of falling back', () => {
    const found = findTether('/nope/tether', '/usr/bin', '/ext/bin/tether', executables(['/usr/bin/tether']));
    assert.match('error' in found ? found.error : '', /tether\.path is \/nope\/tether/);
  });

  it('searches PATH in order, then the bundled binary', () => {
    assert.deepEqual(findTether('', '/a:/b', '/ext/bin/tether', executables(['/b/tether', '/ext/bin/tether'])), { path: '/b/tether', from: 'PATH' });
    assert.deepEqual(findTether(undefined, '/a', '/ext/bin/tether', executables(['/ext/bin/tether'])), { path: '/ext/bin/tether', from: 'bundled' });
  });

  it('tells how to fix a missing tether', () => {
    const found = findTether(undefined, '/a', '/ext/bin/tether', executables([]));
    assert.match('error' in found ? found.error : '', /set tether\.path/);
  });
});
