// A running session's warnings and failures as notifications; nothing for other sessions or
// for progress, ready and ended.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SessionEvent } from '../../src/generated/api';
import { sessionNotice } from '../../src/notices';

const event = (extra: Partial<SessionEvent> = {}): SessionEvent => ({
  kind: 'warning',
  message: 'port 9520 is not intercepted: nothing in the target listens on it; name it in incoming.ports',
  session_id: 's1',
  target: 'pid/42',
  preparation: 'p1',
  ...extra,
});
const live = new Set(['s1', 's2']);

describe('sessionNotice', () => {
  it('shows a warning of a live session as a warning, prefixed "tether: "', () => {
    assert.deepEqual(sessionNotice(event(), live), {
      level: 'warning',
      text: 'tether: port 9520 is not intercepted: nothing in the target listens on it; name it in incoming.ports',
      log: 'session s1 on pid/42: warning: port 9520 is not intercepted: nothing in the target listens on it; name it in incoming.ports',
    });
  });

  it('shows a failure of a live session as an error', () => {
    const notice = sessionNotice(event({ kind: 'failed', session_id: 's2', message: 'the target exited' }), live);
    assert.deepEqual(notice, { level: 'error', text: 'tether: the target exited', log: 'session s2 on pid/42: failed: the target exited' });
  });

  it('says nothing for progress, ready and ended', () => {
    for (const kind of ['progress', 'ready', 'ended'] as const) assert.equal(sessionNotice(event({ kind }), live), undefined, kind);
  });

  it('says nothing for sessions that are not this window\'s, nor for a preparation without a session', () => {
    assert.equal(sessionNotice(event({ session_id: 'other' }), live), undefined);
    assert.equal(sessionNotice(event({ kind: 'failed', session_id: 'other' }), live), undefined);
    assert.equal(sessionNotice(event({ kind: 'failed', session_id: '' }), live), undefined);
    assert.equal(sessionNotice(event({ kind: 'warning', session_id: '' }), new Set([''])), undefined);
    assert.equal(sessionNotice(event(), new Set()), undefined);
  });
});
