// The extension's entry point: builds the parts and registers them. tether stays thin here:
// the daemon (through `tether lsp`) decides; this finds it, asks it and renders its answers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { CONFIG_FILE } from './config';
import { Daemon } from './daemon';
import { TetherDebugProvider } from './debug';
import { Logs } from './logs';
import { Sessions } from './sessions';
import { WorkspaceMemory } from './state';
import { StatusItem } from './status';

export function activate(context: vscode.ExtensionContext): void {
  const logs = new Logs();
  const version = String(context.extension.packageJSON.version ?? '0.0.0');
  const daemon = new Daemon(context.extensionPath, version, logs);
  const memory = new WorkspaceMemory(context.workspaceState);
  const sessions = new Sessions(daemon, logs);
  const status = new StatusItem(memory, sessions);
  const commands = registerCommands({ daemon, memory, sessions, logs });
  const openConfig = (line?: number, file?: string) => vscode.commands.executeCommand<void>('tether.openConfig', line, file) as Promise<void>;
  const provider = new TetherDebugProvider(daemon, memory, sessions, logs, openConfig);
  context.subscriptions.push(
    logs,
    daemon,
    memory,
    sessions,
    status,
    ...commands,
    vscode.debug.registerDebugConfigurationProvider('*', provider),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('tether')) status.render();
    }),
    vscode.workspace.onDidOpenTextDocument((document) => {
      if (isConfigDocument(document.uri)) daemon.start().catch((err) => logs.info(`cannot start tether lsp: ${message(err)}`));
    }),
  );
  logs.info(`tether ${version} active; ${memory.enabled ? 'on' : 'off'} in this workspace`);
  // The language server gives config documents diagnostics, completion and hover; start it when
  // tether is on or the workspace has a config.
  const hasConfig = (vscode.workspace.workspaceFolders ?? []).some((folder) => fs.existsSync(path.join(folder.uri.fsPath, CONFIG_FILE)));
  if (memory.enabled || hasConfig) {
    daemon.start().catch((err) => logs.info(`cannot start tether lsp: ${message(err)}`));
  }
}

/** What `tether lsp` serves: `.tether/*.json` files. */
function isConfigDocument(uri: vscode.Uri): boolean {
  return uri.scheme === 'file' && uri.path.includes('/.tether/') && uri.path.endsWith('.json');
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function deactivate(): void {}
