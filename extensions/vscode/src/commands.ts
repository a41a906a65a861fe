// The commands: toggle, select / clear the target, show sessions (with stop), show logs,
// open or create the config, restart the daemon.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_FILE, configTemplate, pickerStart, prepareConfig, resolveParams, configSource } from './config';
import type { Daemon } from './daemon';
import { showFailure } from './failures';
import type { Config } from './generated/config';
import type { Logs } from './logs';
import { pickTarget } from './pickerUi';
import type { Sessions } from './sessions';
import type { WorkspaceMemory } from './state';

export interface Parts {
  daemon: Daemon;
  memory: WorkspaceMemory;
  sessions: Sessions;
  logs: Logs;
}

export function registerCommands(parts: Parts): vscode.Disposable[] {
  const { daemon, memory, sessions, logs } = parts;
  const failed = (err: unknown, doing: string) => showFailure(err, doing, logs, openConfig);

  async function toggle(): Promise<void> {
    const on = !memory.enabled;
    await memory.setEnabled(on);
    logs.info(`tether turned ${on ? 'on' : 'off'} for this workspace`);
    // Starting the daemon now makes the first launch faster; a failure shows up there.
    if (on) daemon.start().catch((err) => logs.info(`cannot start tether lsp: ${err instanceof Error ? err.message : err}`));
  }

  async function selectTarget(): Promise<void> {
    try {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      const source = configSource({ type: '', request: 'launch', name: '' }, folder, (file) => fs.existsSync(file));
      const params = resolveParams(source);
      const resolved = params ? ((await daemon.request('config.resolve', params)) as Config) : undefined;
      const settings = vscode.workspace.getConfiguration('tether');
      const start = pickerStart(resolved, { context: settings.get('defaultContext'), namespace: settings.get('defaultNamespace') }, memory.recent);
      const choice = await pickTarget(daemon, { title: 'tether: target of the next launches', recent: memory.recent, ...start });
      if (!choice) return;
      await memory.setSelected(choice);
      await memory.picked(choice);
      logs.info(`target ${choice.target} selected; pre-warming its agent`);
      // The agent starts now, so the next launch finds it warm.
      daemon
        .request('targets.prewarm', {
          target: choice.target,
          context: choice.local ? undefined : choice.context,
          namespace: choice.local ? undefined : choice.namespace,
          ...prepareConfig(source),
        })
        .then(
          (warm) => logs.info(`agent ${warm.agent_id} warm for ${choice.target}`),
          (err) => failed(err, `pre-warming ${choice.target}`),
        );
    } catch (err) {
      await failed(err, 'selecting a target');
    }
  }

  async function clearTarget(): Promise<void> {
    await memory.setSelected(undefined);
    logs.info('target cleared: the next launch asks');
  }

  async function showSessions(): Promise<void> {
    try {
      const list = await daemon.request('session.list', null);
      const stop = { iconPath: new vscode.ThemeIcon('debug-stop'), tooltip: 'Stop this session' };
      type Item = vscode.QuickPickItem & { sessionId?: string };
      const quickPick = vscode.window.createQuickPick<Item>();
      quickPick.title = 'tether: sessions';
      quickPick.placeholder = list.length ? 'Enter (or the stop button) stops a session' : 'no sessions';
      quickPick.items = list.map((session) => {
        const debugSession = sessions.debugSessionOf(session.session_id);
        return {
          label: `$(debug-alt) ${session.target}`,
          description: `${path.basename(session.program)} · since ${new Date(session.started_at * 1000).toLocaleTimeString()}`,
          detail: `session ${session.session_id}${debugSession ? ` · debug session "${debugSession.name}"` : ''}`,
          sessionId: session.session_id,
          buttons: [stop],
        };
      });
      const stopSession = async (item: Item | undefined) => {
        if (!item?.sessionId) return;
        quickPick.hide();
        const debugSession = sessions.debugSessionOf(item.sessionId);
        // Stopping the debug session ends its tether session too; others are ended directly.
        if (debugSession) await vscode.debug.stopDebugging(debugSession);
        else await sessions.end(item.sessionId, 'stopped from "Show Sessions"');
      };
      quickPick.onDidAccept(() => void stopSession(quickPick.selectedItems[0]));
      quickPick.onDidTriggerItemButton((event) => void stopSession(event.item));
      quickPick.onDidHide(() => quickPick.dispose());
      quickPick.show();
    } catch (err) {
      await failed(err, 'listing sessions');
    }
  }

  async function openConfig(line?: number, given?: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!given && !folder) {
      void vscode.window.showErrorMessage('tether: open a folder first; its config is .tether/config.json');
      return;
    }
    const file = given ?? path.join(folder!.uri.fsPath, CONFIG_FILE);
    if (!given && !fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, configTemplate());
      logs.info(`created ${file}`);
    }
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(file));
    if (line && line > 0) {
      const position = new vscode.Position(line - 1, 0);
      editor.selection = new vscode.Selection(position, position);
      editor.revealRange(new vscode.Range(position, position));
    }
  }

  async function restartDaemon(): Promise<void> {
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'tether: restarting the daemon' }, () =>
        daemon.restart(),
      );
      void vscode.window.showInformationMessage('tether: the daemon was restarted');
    } catch (err) {
      await failed(err, 'restarting the daemon');
    }
  }

  return [
    vscode.commands.registerCommand('tether.toggle', toggle),
    vscode.commands.registerCommand('tether.selectTarget', selectTarget),
    vscode.commands.registerCommand('tether.clearTarget', clearTarget),
    vscode.commands.registerCommand('tether.showSessions', showSessions),
    vscode.commands.registerCommand('tether.showLogs', () => logs.show()),
    vscode.commands.registerCommand('tether.openConfig', (line?: number, file?: string) => openConfig(line, file)),
    vscode.commands.registerCommand('tether.restartDaemon', restartDaemon),
  ];
}
