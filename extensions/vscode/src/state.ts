// What this extension remembers per workspace (workspaceState): whether tether is on, the
// target chosen with "Select Target", and the recently picked targets.

import * as vscode from 'vscode';
import { remember, type Choice } from './picker';

const ENABLED = 'tether.enabled';
const SELECTED = 'tether.selectedTarget';
const RECENT = 'tether.recentTargets';

export class WorkspaceMemory {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly state: vscode.Memento) {}

  /** On when toggled on here; a workspace never toggled follows `tether.enabledByDefault`. */
  get enabled(): boolean {
    const toggled = this.state.get<boolean>(ENABLED);
    return toggled ?? vscode.workspace.getConfiguration('tether').get<boolean>('enabledByDefault', false);
  }

  async setEnabled(on: boolean): Promise<void> {
    await this.state.update(ENABLED, on);
    this.changed.fire();
  }

  get selected(): Choice | undefined {
    return this.state.get<Choice>(SELECTED);
  }

  async setSelected(choice: Choice | undefined): Promise<void> {
    await this.state.update(SELECTED, choice);
    this.changed.fire();
  }

  get recent(): Choice[] {
    return this.state.get<Choice[]>(RECENT) ?? [];
  }

  async picked(choice: Choice): Promise<void> {
    await this.state.update(RECENT, remember(this.recent, choice));
  }

  dispose(): void {
    this.changed.dispose();
  }
}
