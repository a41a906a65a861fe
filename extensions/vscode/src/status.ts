// The status-bar toggle: "tether: on/off" for this workspace; its tooltip shows the current
// target (chosen with "Select Target", or asked at each launch) and the running sessions.

import * as vscode from 'vscode';
import type { Sessions } from './sessions';
import type { WorkspaceMemory } from './state';

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('tether.toggle', vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly memory: WorkspaceMemory,
    private readonly sessions: Sessions,
  ) {
    this.item.name = 'tether';
    this.item.command = 'tether.toggle';
    this.disposables.push(memory.onDidChange(() => this.render()), sessions.onDidChange(() => this.render()));
    this.render();
    this.item.show();
  }

  render(): void {
    const on = this.memory.enabled;
    const running = this.sessions.list();
    this.item.text = on ? `$(plug) tether: on${running.length ? ` (${running.length})` : ''}` : '$(debug-disconnect) tether: off';
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(on ? '**tether is on** in this workspace: debug launches take on a target\'s context.\n\n' : '**tether is off** in this workspace.\n\n');
    const selected = this.memory.selected;
    tooltip.appendMarkdown(
      selected
        ? `Target: \`${selected.target}\`${selected.local ? '' : ` (${[selected.context, selected.namespace].filter(Boolean).join(', ') || 'current context'})`}\n\n`
        : 'Target: asked at each launch (or the config\'s)\n\n',
    );
    if (running.length) {
      tooltip.appendMarkdown('Sessions:\n');
      for (const session of running) {
        tooltip.appendMarkdown(`- \`${session.target}\` — session ${session.sessionId}${session.debugSession ? ` (${session.debugSession.name})` : ''}\n`);
      }
    } else tooltip.appendMarkdown('No session.\n');
    tooltip.appendMarkdown(`\nClick to turn tether ${on ? 'off' : 'on'}.`);
    this.item.tooltip = tooltip;
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
    this.item.dispose();
  }
}
