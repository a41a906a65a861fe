// Which of the daemon's `session.event`s a user sees as a notification once a session is
// running (pure: no vscode import). The daemon sends events for a session's whole life: a
// listener it does not intercept, a port another session holds, a replica left out (warnings),
// a lost agent or a gone target (failed). Events of a preparation are the progress
// notification's (`debug.ts`); progress, ready and ended say nothing a user must act on.

import type { SessionEvent } from './generated/api';

export interface Notice {
  level: 'warning' | 'error';
  /** What the notification says: `tether: ` and the daemon's message. */
  text: string;
  /** The extension log's line: the session and target too. */
  log: string;
}

/** The notice for `event`, when it is a warning or a failure of one of `live` (this window's
 * running tether sessions, by id); undefined for anything else. */
export function sessionNotice(event: SessionEvent, live: ReadonlySet<string>): Notice | undefined {
  if (!event.session_id || !live.has(event.session_id)) return undefined;
  const level = event.kind === 'warning' ? 'warning' : event.kind === 'failed' ? 'error' : undefined;
  if (!level) return undefined;
  return {
    level,
    text: `tether: ${event.message}`,
    log: `session ${event.session_id} on ${event.target}: ${event.kind === 'failed' ? 'failed' : 'warning'}: ${event.message}`,
  };
}
