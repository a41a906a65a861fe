// Showing a failure: the daemon's typed message, with "Show logs" and "Open config".

import * as vscode from 'vscode';
import { describe } from './errors';
import type { Logs } from './logs';

/** Opens the config a failure is about: `file` at `line`, else the workspace's (created). */
export type OpenConfig = (line?: number, file?: string) => Promise<void>;

export async function showFailure(err: unknown, doing: string, logs: Logs, openConfig: OpenConfig, configFile?: string): Promise<void> {
  const message = describe(err, doing);
  logs.info(message);
  const choice = await vscode.window.showErrorMessage(message, 'Show logs', 'Open config');
  if (choice === 'Show logs') logs.show();
  else if (choice === 'Open config') {
    const diagnostic = (err as { diagnostics?: Array<{ line: number; file: string }> }).diagnostics?.[0];
    const file = diagnostic?.file?.startsWith('/') ? diagnostic.file : configFile;
    await openConfig(diagnostic?.line, file);
  }
}
