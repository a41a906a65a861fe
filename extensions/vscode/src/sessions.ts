// The tether sessions of this window's debug sessions: each ends when its debug session does,
// a restart relaunches with a fresh session prepared on the (warm) agent, and their warnings and
// failures while they run (`session.event`s, chosen by `notices.ts`) are shown and logged.
//
// Restart: VS Code does not ask configuration providers again on restart; it relaunches with the
// configuration in memory, through the adapter's `restart` request when the adapter supports it
// (js-debug does). So for tethered sessions a tracker turns `supportsRestartRequest` off in the
// adapter's `initialize` response: VS Code then restarts by terminating the adapter (`terminate`
// or `disconnect` with `restart: true`) and launching a new one. When the tracker sees that
// request it prepares a fresh session; the tracker of the new adapter waits for it (VS Code waits
// at most a second for trackers) and puts its environment into the `launch` request. If the fresh
// session is not ready in time the launch keeps the old one, which stays valid.

import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import type { Daemon } from './daemon';
import type { SessionEvent, SessionPrepareParams, SessionPrepared } from './generated/api';
import { swapPrepared, type DebugConfig } from './launch';
import type { Logs } from './logs';
import { sessionNotice } from './notices';

/** What a patched debug configuration carries as `__tether`. */
export interface Marker {
  key: string;
  target: string;
}

interface Entry {
  key: string;
  target: string;
  /** How the current session was prepared; a restart prepares again with it. */
  request: SessionPrepareParams;
  current: SessionPrepared;
  debugSession?: vscode.DebugSession;
  /** Set from a restart's terminate request until the relaunch. */
  restart?: { fresh: Promise<SessionPrepared | undefined>; ready?: SessionPrepared };
}

/** How long a new adapter's tracker waits for a restart's fresh session (VS Code allows 1 s). */
const FRESH_WAIT_MS = 800;
/** A prepared session whose debug session never starts (or a restart that never relaunches) is
 * ended after this long, so a failed start leaves nothing behind. */
const ORPHAN_MS = 60_000;

export class Sessions implements vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly daemon: Daemon,
    private readonly logs: Logs,
  ) {
    this.disposables.push(
      vscode.debug.onDidStartDebugSession((debugSession) => {
        const entry = this.entryOf(debugSession);
        if (entry) {
          entry.debugSession = debugSession;
          this.changed.fire();
        }
      }),
      vscode.debug.onDidTerminateDebugSession((debugSession) => {
        const entry = this.entryOf(debugSession);
        if (entry && !entry.restart) this.drop(entry, `debug session "${debugSession.name}" ended`);
      }),
      vscode.debug.registerDebugAdapterTrackerFactory('*', {
        createDebugAdapterTracker: (debugSession) => this.tracker(debugSession),
      }),
      daemon.onSessionEvent((event) => this.notify(event)),
      daemon.onConnectionLost(() => {
        if (this.entries.size) {
          void vscode.window.showWarningMessage(
            'tether: the connection to the daemon was lost; running debug sessions no longer have their target\'s context (restart them)',
          );
        }
        this.entries.clear();
        this.changed.fire();
      }),
    );
  }

  /** Records a session prepared for a launch whose configuration carries `marker`. */
  add(marker: Marker, request: SessionPrepareParams, prepared: SessionPrepared): void {
    const entry: Entry = { key: marker.key, target: marker.target, request, current: prepared };
    this.entries.set(marker.key, entry);
    this.changed.fire();
    setTimeout(() => {
      if (!entry.debugSession && this.entries.get(entry.key) === entry) this.drop(entry, 'its debug session never started');
    }, ORPHAN_MS).unref?.();
  }

  /** A warning or failure of one of this window's running sessions, as a notification and a log
   * line; this is the one listener, so each event is shown once. */
  private notify(event: SessionEvent): void {
    const live = new Set([...this.entries.values()].map((entry) => entry.current.session_id));
    const notice = sessionNotice(event, live);
    if (!notice) return;
    this.logs.info(notice.log);
    if (notice.level === 'warning') void vscode.window.showWarningMessage(notice.text);
    else void vscode.window.showErrorMessage(notice.text, 'Show logs').then((choice) => choice && this.logs.show());
  }

  private drop(entry: Entry, why: string): void {
    this.entries.delete(entry.key);
    this.changed.fire();
    void this.end(entry.current.session_id, why);
  }

  /** The tethered debug sessions: target, tether session id, debug session. */
  list(): Array<{ target: string; sessionId: string; debugSession?: vscode.DebugSession }> {
    return [...this.entries.values()].map((entry) => ({ target: entry.target, sessionId: entry.current.session_id, debugSession: entry.debugSession }));
  }

  /** The debug session a tether session belongs to, if it is one of this window's. */
  debugSessionOf(sessionId: string): vscode.DebugSession | undefined {
    return [...this.entries.values()].find((entry) => entry.current.session_id === sessionId)?.debugSession;
  }

  private entryOf(debugSession: vscode.DebugSession): Entry | undefined {
    const configuration = debugSession.configuration as DebugConfig;
    // js-debug's child sessions may copy their parent's fields; only the launch itself counts.
    if ('__parentId' in configuration) return undefined;
    const marker = configuration.__tether as Marker | undefined;
    return marker?.key ? this.entries.get(marker.key) : undefined;
  }

  private async tracker(debugSession: vscode.DebugSession): Promise<vscode.DebugAdapterTracker | undefined> {
    const entry = this.entryOf(debugSession);
    if (!entry) return undefined;
    if (entry.restart && !entry.restart.ready) {
      const fresh = await Promise.race([entry.restart.fresh, delay(FRESH_WAIT_MS).then(() => undefined)]);
      if (fresh && entry.restart) entry.restart.ready = fresh;
    }
    return {
      onDidSendMessage: (message: DapMessage) => {
        if (message.type === 'response' && message.command === 'initialize' && message.body?.supportsRestartRequest) {
          message.body.supportsRestartRequest = false;
        }
      },
      onWillReceiveMessage: (message: DapMessage) => {
        if (message.type !== 'request') return;
        if ((message.command === 'terminate' || message.command === 'disconnect') && message.arguments?.restart) {
          this.startRestart(entry);
        } else if (message.command === 'launch' && entry.restart) {
          this.relaunch(entry, message);
        }
      },
    };
  }

  private startRestart(entry: Entry): void {
    if (entry.restart) return;
    const request = { ...entry.request, preparation: randomId() };
    this.logs.info(`restart of the debug session on ${entry.target}: preparing a fresh session`);
    const fresh = this.daemon.request('session.prepare', request).then(
      (prepared) => prepared,
      (err) => {
        this.logs.info(`the fresh session for the restart failed (${err instanceof Error ? err.message : err}); the restart keeps session ${entry.current.session_id}`);
        return undefined;
      },
    );
    const restart: NonNullable<Entry['restart']> = { fresh };
    entry.restart = restart;
    void fresh.then((prepared) => {
      if (prepared) restart.ready = prepared;
    });
    setTimeout(() => {
      if (entry.restart !== restart) return;
      // The relaunch never came (the adapter failed to start again): end both sessions.
      entry.restart = undefined;
      this.drop(entry, 'its restart never relaunched');
      void fresh.then((late) => late && this.end(late.session_id, 'its restart never relaunched'));
    }, ORPHAN_MS).unref?.();
  }

  /** Puts the fresh session's environment into the relaunch's `launch` request. */
  private relaunch(entry: Entry, message: DapMessage): void {
    const restart = entry.restart!;
    entry.restart = undefined;
    const fresh = restart.ready;
    if (!fresh) {
      this.logs.info(`the fresh session was not ready for the relaunch; it keeps session ${entry.current.session_id}`);
      void restart.fresh.then((late) => late && this.end(late.session_id, 'prepared too late for the restart'));
      return;
    }
    const previous = entry.current;
    message.arguments = swapPrepared(message.arguments as DebugConfig, previous, fresh).config;
    entry.current = fresh;
    this.changed.fire();
    this.logs.info(`restart on ${entry.target}: session ${fresh.session_id} replaces ${previous.session_id}`);
    void this.end(previous.session_id, 'replaced by a restart');
  }

  async end(sessionId: string, why: string): Promise<void> {
    try {
      await this.daemon.request('session.end', { session_id: sessionId });
      this.logs.info(`ended session ${sessionId}: ${why}`);
    } catch (err) {
      this.logs.info(`session.end ${sessionId}: ${err instanceof Error ? err.message : err}`);
    }
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
  }
}

interface DapMessage {
  type: string;
  command?: string;
  arguments?: { restart?: boolean; [key: string]: unknown };
  body?: { supportsRestartRequest?: boolean; [key: string]: unknown };
}

export function randomId(): string {
  return randomUUID();
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
