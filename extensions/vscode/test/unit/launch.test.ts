// Launch patching per debug type: what each debugger is given, so the process it starts sees the
// target's variables (and not the ones the config removes), and launch.json stays as it was.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPrepared, describeLaunch, leftAlone, swapPrepared, type DebugConfig } from '../../src/launch';

const prepared = {
  env: { DEMO_GREETING: 'hello-from-pod', LD_PRELOAD: '/opt/tether/libtether_layer.so', TETHER_SESSION: 't0k' },
  unset: ['PROXY'],
};
const launch = (type: string, extra: Record<string, unknown> = {}): DebugConfig => ({ type, request: 'launch', name: 'app', ...extra });

describe('applyPrepared', () => {
  it('gives a node launch the session env over its own and removes unset variables with null', () => {
    const config = launch('node', { program: 'app.js', env: { LOG_LEVEL: 'debug', PROXY: 'http://proxy' } });
    const { config: patched, notes } = applyPrepared(config, prepared);
    assert.deepEqual(patched.env, {
      LOG_LEVEL: 'debug',
      PROXY: null,
      DEMO_GREETING: 'hello-from-pod',
      LD_PRELOAD: '/opt/tether/libtether_layer.so',
      TETHER_SESSION: 't0k',
    });
    assert.deepEqual(notes, []);
  });

  it('never changes the configuration it was given (nothing reaches launch.json)', () => {
    const config = launch('pwa-node', { env: { A: '1' } });
    const before = structuredClone(config);
    applyPrepared(config, prepared, { key: 'k' });
    assert.deepEqual(config, before);
  });

  it('marks the patched configuration so its debug session can be found again', () => {
    const { config } = applyPrepared(launch('node'), prepared, { key: 'k1', target: 'pid/7' });
    assert.deepEqual(config.__tether, { key: 'k1', target: 'pid/7' });
  });

  it('lets delve (go) remove variables with null', () => {
    const { config, notes } = applyPrepared(launch('go', { program: '.' }), prepared);
    assert.equal((config.env as Record<string, unknown>).PROXY, null);
    assert.deepEqual(notes, []);
  });

  for (const type of ['python', 'debugpy', 'java', 'coreclr', 'lldb', 'php']) {
    it(`sets unset variables empty for ${type}, whose debugger takes strings only, and says so`, () => {
      const { config, notes } = applyPrepared(launch(type, { env: { PROXY: 'x' } }), prepared);
      const env = config.env as Record<string, unknown>;
      assert.equal(env.PROXY, '');
      assert.equal(env.DEMO_GREETING, 'hello-from-pod');
      assert.ok(Object.values(env).every((value) => typeof value === 'string'), 'strings only');
      assert.equal(notes.length, 1);
      assert.match(notes[0], new RegExp(`${type} debugger cannot remove .*PROXY`));
    });
  }

  it('gives cppvsdbg an environment array too', () => {
    const { config } = applyPrepared(launch('cppvsdbg', { program: 'app.exe' }), { env: { A: '1' }, unset: [] });
    assert.deepEqual(config.environment, [{ name: 'A', value: '1' }]);
  });

  it('gives cppdbg an environment array, replacing entries of the same name', () => {
    const config = launch('cppdbg', {
      program: './app',
      environment: [
        { name: 'KEEP', value: 'me' },
        { name: 'DEMO_GREETING', value: 'host' },
      ],
    });
    const { config: patched } = applyPrepared(config, prepared);
    assert.deepEqual(patched.environment, [
      { name: 'KEEP', value: 'me' },
      { name: 'DEMO_GREETING', value: 'hello-from-pod' },
      { name: 'LD_PRELOAD', value: '/opt/tether/libtether_layer.so' },
      { name: 'TETHER_SESSION', value: 't0k' },
      { name: 'PROXY', value: '' },
    ]);
    assert.equal(patched.env, undefined);
  });

  it('gives lldb-dap NAME=value strings', () => {
    const { config } = applyPrepared(launch('lldb-dap', { env: ['KEEP=me'] }), { env: { A: '1' }, unset: [] });
    assert.deepEqual(config.env, ['KEEP=me', 'A=1']);
  });
});

describe('leftAlone', () => {
  it('leaves attach requests, js-debug child sessions, browsers and opted-out launches alone', () => {
    assert.match(leftAlone({ type: 'node', request: 'attach', name: 'a' })!, /attach/);
    assert.match(leftAlone({ ...launch('pwa-node'), __parentId: 'p1' })!, /child session/);
    assert.match(leftAlone(launch('pwa-chrome'))!, /do not start a program of yours/);
    assert.match(leftAlone(launch('node', { tether: false }))!, /"tether": false/);
  });

  it('takes launches of every other debug type, known or not', () => {
    for (const type of ['node', 'python', 'go', 'java', 'coreclr', 'lldb', 'cppdbg', 'ruby']) assert.equal(leftAlone(launch(type)), undefined, type);
  });
});

describe('describeLaunch', () => {
  it('describes a node launch as its runtime and arguments, with the host env and the launch own', () => {
    const config = launch('node', { runtimeExecutable: '/usr/bin/node', runtimeArgs: ['--inspect'], program: '/w/app.js', args: ['x'], cwd: '/w', env: { A: '1', HOME: null } });
    assert.deepEqual(describeLaunch(config, { PATH: '/usr/bin', HOME: '/root', UNSET: undefined }), {
      debug_type: 'node',
      program: '/usr/bin/node',
      args: ['--inspect', '/w/app.js', 'x'],
      cwd: '/w',
      env: { PATH: '/usr/bin', A: '1' },
    });
  });

  it('describes python modules and scripts, and native programs', () => {
    assert.deepEqual(describeLaunch(launch('debugpy', { module: 'app', args: ['--port', '8'] }), {}).args, ['-m', 'app', '--port', '8']);
    assert.equal(describeLaunch(launch('python', { program: 'a.py' }), {}).program, 'python3');
    const native = describeLaunch(launch('cppdbg', { program: '/w/app', args: ['1'], environment: [{ name: 'X', value: 'y' }] }), {});
    assert.deepEqual([native.program, native.args, native.env], ['/w/app', ['1'], { X: 'y' }]);
  });
});

describe('swapPrepared', () => {
  it('moves a restarted launch from the old session to the fresh one, keeping the launch own variables', () => {
    const old = { env: { TETHER_SESSION: 'old', GONE: 'x' }, unset: ['PROXY'] };
    const fresh = { env: { TETHER_SESSION: 'new' }, unset: [] };
    const launched = applyPrepared(launch('node', { env: { LOG_LEVEL: 'debug' } }), old).config;
    const { config } = swapPrepared(launched, old, fresh);
    assert.deepEqual(config.env, { LOG_LEVEL: 'debug', TETHER_SESSION: 'new' });
  });
});
