// Debug launches with tether on: a DebugConfigurationProvider for every debug type whose
// `resolveDebugConfigurationWithSubstitutedVariables` resolves the config (through the daemon),
// asks for a target when none is named, prepares the session while a cancellable progress
// notification shows the daemon's `session.event`s, and returns a copy of the configuration
// with the session's environment. Returning undefined cancels the launch.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { configSource, fromChoice, launchTarget, pickerStart, prepareConfig, resolveParams } from './config';
import type { Daemon } from './daemon';
import { showFailure, type OpenConfig } from './failures';
import type { SessionPrepareParams, SessionPrepared } from './generated/api';
import type { Config } from './generated/config';
import { applyPrepared, describeLaunch, leftAlone, type DebugConfig } from './launch';
import type { Logs } from './logs';
import { pickTarget } from './pickerUi';
import { randomId, type Marker, type Sessions } from './sessions';
import type { WorkspaceMemory } from './state';

export class TetherDebugProvider implements vscode.DebugConfigurationProvider {
  constructor(
    private readonly daemon: Daemon,
    private readonly memory: WorkspaceMemory,
    private readonly sessions: Sessions,
    private readonly logs: Logs,
    private readonly openConfig: OpenConfig,
  ) {}

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    debugConfiguration: vscode.DebugConfiguration,
    token?: vscode.CancellationToken,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const config = debugConfiguration as DebugConfig;
    if (!this.memory.enabled) return debugConfiguration;
    const why = leftAlone(config);
    if (why) {
      this.logs.info(`left "${config.name}" (${config.type}) alone: ${why}`);
      return debugConfiguration;
    }
    // The file "Open config" opens: the launch's own config when it has one.
    let configFile: string | undefined;
    try {
      const source = configSource(config, folder?.uri.fsPath, (file) => fs.existsSync(file));
      if (source.kind === 'file') configFile = source.path;
      else if (source.kind === 'inline' && folder) configFile = path.join(folder.uri.fsPath, '.vscode', 'launch.json');
      const params = resolveParams(source);
      const resolved = params ? ((await this.daemon.request('config.resolve', params)) as Config) : undefined;
      let target = launchTarget(source, resolved, this.memory.selected);
      if (!target) {
        const settings = vscode.workspace.getConfiguration('tether');
        const start = pickerStart(
          resolved,
          { context: settings.get<string>('defaultContext'), namespace: settings.get<string>('defaultNamespace') },
          this.memory.recent,
        );
        const choice = await pickTarget(this.daemon, { title: `tether: target of "${config.name}"`, recent: this.memory.recent, ...start });
        if (!choice) {
          this.logs.info(`launch of "${config.name}" cancelled in the target picker`);
          return undefined;
        }
        await this.memory.picked(choice);
        target = fromChoice(choice);
      }
      const request: SessionPrepareParams = {
        ...target,
        preparation: randomId(),
        ...prepareConfig(source),
        launch: describeLaunch(config, process.env),
      };
      const prepared = await this.prepare(request, token);
      if (!prepared) {
        this.logs.info(`launch of "${config.name}" cancelled while its session was prepared`);
        return undefined;
      }
      const marker: Marker = { key: randomId(), target: target.target };
      const { config: patched, notes } = applyPrepared(config, prepared, marker);
      this.sessions.add(marker, request, prepared);
      this.logs.info(`session ${prepared.session_id} on ${target.target} for "${config.name}" (${config.type})`);
      for (const warning of [...(prepared.warnings ?? []), ...notes]) {
        this.logs.info(`warning: ${warning}`);
        void vscode.window.showWarningMessage(`tether: ${warning}`);
      }
      return patched;
    } catch (err) {
      void showFailure(err, `preparing "${config.name}"`, this.logs, this.openConfig, configFile);
      return undefined;
    }
  }

  /** `session.prepare` under a progress notification; undefined when cancelled. */
  private prepare(request: SessionPrepareParams, token?: vscode.CancellationToken): Thenable<SessionPrepared | undefined> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `tether: ${request.target}`, cancellable: true },
      async (progress, cancel) => {
        progress.report({ message: 'preparing the session…' });
        const events = this.daemon.onSessionEvent((event) => {
          if (event.preparation === request.preparation && (event.kind === 'progress' || event.kind === 'warning')) {
            progress.report({ message: event.message });
          }
        });
        const pending = this.daemon.request('session.prepare', request);
        const cancelled = new Promise<'cancelled'>((resolve) => {
          cancel.onCancellationRequested(() => resolve('cancelled'));
          token?.onCancellationRequested(() => resolve('cancelled'));
        });
        try {
          const outcome = await Promise.race([pending, cancelled]);
          if (outcome !== 'cancelled') return outcome;
          // The daemon finishes what it started (the agent stays warm); the session is not used.
          pending.then(
            (prepared) => this.sessions.end(prepared.session_id, 'its launch was cancelled'),
            () => undefined,
          );
          return undefined;
        } finally {
          events.dispose();
        }
      },
    );
  }
}
