// The daemon's typed errors as the notification shows them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describe as describeError, TetherError } from '../../src/errors';
import { ErrorCodes } from '../../src/generated/api';

describe('describe', () => {
  it('names the kind of failure and keeps the daemon\'s message', () => {
    const err = new TetherError(ErrorCodes.POD_SECURITY_REJECTED, 'pods "x" is forbidden: violates PodSecurity "baseline:latest"; use agent.namespace', { reason: '…' });
    assert.equal(describeError(err, 'preparing "app"'), 'tether: the namespace\'s pod security refused the agent pod: pods "x" is forbidden: violates PodSecurity "baseline:latest"; use agent.namespace');
    assert.match(describeError(new TetherError(ErrorCodes.NOT_PERMITTED, 'cannot create jobs in shop'), 'x'), /^tether: not permitted: cannot create jobs/);
  });

  it('lists a config\'s diagnostics with file, line and column', () => {
    const err = new TetherError(ErrorCodes.CONFIG_INVALID, 'summary', { diagnostics: [{ file: '/w/.tether/config.json', line: 2, column: 23, message: 'unknown variant `reed`' }] });
    assert.equal(describeError(err, 'x'), 'tether: the config is invalid: /w/.tether/config.json:2:23: unknown variant `reed`');
    assert.equal(err.diagnostics[0].line, 2);
  });

  it('says what was being done for errors without a known code', () => {
    assert.equal(describeError(new Error('spawn tether ENOENT'), 'starting tether'), 'tether: starting tether failed: spawn tether ENOENT');
    assert.equal(describeError(new TetherError(-32603, 'the tether daemon failed: closed'), 'listing'), 'tether: listing failed: the tether daemon failed: closed');
  });
});
