// Showing a failure: the daemon's typed message, with "Show logs" and "Open config".

import * as vscode from 'vscode';
import { describe } from './errors';
import type { Logs } from './logs';

export type OpenConfig = (line?: number) => Promise<void>;

export async function showFailure(err: unknown, doing: string, logs: Logs, openConfig: OpenConfig): Promise<void> {
  const message = describe(err, doing);
  logs.info(message);
  const choice = await vscode.window.showErrorMessage(message, 'Show logs', 'Open config');
  if (choice === 'Show logs') logs.show();
  else if (choice === 'Open config') {
    const line = (err as { diagnostics?: Array<{ line: number }> }).diagnostics?.[0]?.line;
    await openConfig(line);
  }
}
