// The target quick pick: renders the picker model (picker.ts) and fills it from the daemon
// (contexts, the cluster's targets, this machine's stand-ins), refreshed while open when the
// daemon says a listing changed. One QuickPick with three modes (targets, contexts,
// namespaces); Escape closes it and cancels whatever asked.

import * as vscode from 'vscode';
import type { Daemon } from './daemon';
import { describe } from './errors';
import {
  accept,
  namespaceRows,
  rows,
  withContext,
  withNamespace,
  type Choice,
  type PickerState,
  type Row,
} from './picker';

interface Item extends vscode.QuickPickItem {
  row?: Row;
  /** Contexts and namespaces mode: what the item switches to. */
  context?: string;
  namespace?: string | null;
}

export interface PickOptions {
  title: string;
  context?: string;
  namespace?: string;
  recent: Choice[];
}

/** Asks for a target; undefined when the user pressed Escape. */
export function pickTarget(daemon: Daemon, options: PickOptions): Promise<Choice | undefined> {
  const quickPick = vscode.window.createQuickPick<Item>();
  quickPick.title = options.title;
  quickPick.matchOnDescription = true;
  quickPick.matchOnDetail = true;
  let state: PickerState = {
    context: options.context,
    namespace: options.namespace,
    allNamespaces: false,
    contexts: [],
    cluster: [],
    local: [],
    recent: options.recent,
    loading: true,
  };
  let mode: 'targets' | 'contexts' | 'namespaces' = 'targets';
  /** Listings answered for an older state are dropped. */
  let generation = 0;
  /** The rows on screen: a listing that changed nothing does not replace them (which would
   * move the highlight and could swallow a click). */
  let shown = '';

  const showTargets = () => {
    const next = rows(state);
    const key = JSON.stringify(next);
    if (mode === 'targets' && key === shown) return;
    mode = 'targets';
    shown = key;
    quickPick.buttons = [];
    quickPick.placeholder = 'Pick the target (type to filter); Escape cancels';
    quickPick.busy = state.loading;
    const active = quickPick.activeItems[0]?.row;
    quickPick.items = next.map(toItem);
    // Keep the highlighted row when a refresh re-renders (the first target otherwise).
    const same = active?.kind === 'target' ? quickPick.items.find((item) => item.row?.kind === 'target' && item.row.label === active.label) : undefined;
    if (same) quickPick.activeItems = [same];
  };

  const load = async () => {
    const mine = ++generation;
    const clusterParams = { context: state.context, namespace: state.allNamespaces ? undefined : state.namespace, all_namespaces: state.allNamespaces };
    const [contexts, cluster, local] = await Promise.allSettled([
      daemon.request('contexts.list', null),
      daemon.request('targets.list', clusterParams),
      daemon.request('targets.list', { local: true }),
    ]);
    if (mine !== generation) return;
    const error = (result: PromiseSettledResult<unknown>) =>
      result.status === 'rejected' ? describe(result.reason, 'listing').replace(/^tether: /, '') : undefined;
    state = {
      ...state,
      contexts: contexts.status === 'fulfilled' ? contexts.value : [],
      cluster: cluster.status === 'fulfilled' ? cluster.value : [],
      local: local.status === 'fulfilled' ? local.value : [],
      clusterError: error(contexts) ?? error(cluster),
      loading: false,
    };
    if (mode === 'targets') showTargets();
  };

  const showContexts = () => {
    mode = 'contexts';
    shown = '';
    quickPick.value = '';
    quickPick.buttons = [vscode.QuickInputButtons.Back];
    quickPick.placeholder = 'Pick the Kubernetes context';
    quickPick.items = state.contexts.map((context) => ({
      label: context.name,
      description: [context.current ? 'current' : undefined, context.cluster].filter(Boolean).join(' · '),
      context: context.name,
    }));
    if (!state.contexts.length) quickPick.items = [{ label: state.clusterError ?? 'no kubeconfig contexts' }];
  };

  const showNamespaces = async () => {
    mode = 'namespaces';
    shown = '';
    quickPick.value = '';
    quickPick.buttons = [vscode.QuickInputButtons.Back];
    quickPick.placeholder = 'Pick the namespace';
    quickPick.items = [];
    quickPick.busy = true;
    try {
      const namespaces = await daemon.request('namespaces.list', { context: state.context });
      if (mode !== 'namespaces') return;
      quickPick.items = namespaceRows(namespaces, state.namespace).map((row) => ({ label: row.label, namespace: row.namespace ?? null }));
    } catch (err) {
      if (mode === 'namespaces') quickPick.items = [{ label: `$(warning) ${describe(err, 'listing namespaces')}` }];
    } finally {
      quickPick.busy = false;
    }
  };

  return new Promise<Choice | undefined>((resolve) => {
    const disposables: vscode.Disposable[] = [];
    let result: Choice | undefined;
    disposables.push(
      quickPick.onDidAccept(() => {
        const item = quickPick.selectedItems[0] ?? quickPick.activeItems[0];
        if (mode === 'contexts') {
          if (item?.context) {
            state = withContext(state, item.context);
            void load();
          }
          quickPick.value = '';
          showTargets();
          return;
        }
        if (mode === 'namespaces') {
          if (item && item.namespace !== undefined) {
            state = withNamespace(state, item.namespace ?? undefined);
            void load();
          }
          quickPick.value = '';
          showTargets();
          return;
        }
        const outcome = accept(item?.row);
        if (outcome.kind === 'picked') {
          result = outcome.choice;
          quickPick.hide();
        } else if (outcome.kind === 'switch-context') showContexts();
        else if (outcome.kind === 'switch-namespace') void showNamespaces();
      }),
      quickPick.onDidTriggerButton((button) => {
        if (button === vscode.QuickInputButtons.Back) showTargets();
      }),
      daemon.onTargetsChanged(() => {
        if (!state.loading) void load();
      }),
      quickPick.onDidHide(() => {
        for (const disposable of disposables) disposable.dispose();
        quickPick.dispose();
        resolve(result);
      }),
    );
    showTargets();
    quickPick.show();
    void load();
  });
}

function toItem(row: Row): Item {
  switch (row.kind) {
    case 'separator':
      return { label: row.label, kind: vscode.QuickPickItemKind.Separator, row };
    case 'target':
      return { label: row.label, description: row.description, detail: row.detail, row };
    case 'switch-context':
    case 'switch-namespace':
    case 'message':
      // Not alwaysShow: typing a target's name must leave that target the first (active) row.
      return { label: row.label, description: row.description, row };
  }
}
