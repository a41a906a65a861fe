// The target picker's model (pure: no vscode import). From what the daemon listed and what the
// user picked before, the rows of the quick pick: the most recent targets first, then switches
// for the context and the namespace, then the cluster's workloads grouped by kind with their
// ready/total counts, then this machine's stand-ins. And what accepting a row, or Escape, means.

import type { ContextInfo, TargetInfo } from './generated/api';

/** A target as the picker hands it to a launch (and remembers it). */
export interface Choice {
  target: string;
  /** Kubernetes targets: where it was picked (undefined: the kubeconfig's current context). */
  context?: string;
  namespace?: string;
  /** A stand-in on this machine (`pid/…`, `container/…`): no context or namespace. */
  local: boolean;
}

/** What the picker currently shows. */
export interface PickerState {
  /** The context and namespace the cluster listing is of (undefined: the kubeconfig's). */
  context?: string;
  namespace?: string;
  allNamespaces: boolean;
  /** The kubeconfig's contexts (empty: none, or the cluster listing failed). */
  contexts: ContextInfo[];
  cluster: TargetInfo[];
  local: TargetInfo[];
  /** Why the cluster's workloads are not listed (no kubeconfig, unreachable, …). */
  clusterError?: string;
  recent: Choice[];
  /** Still waiting for a listing. */
  loading: boolean;
}

/** One row: a separator, a target, a switch or a message. */
export type Row =
  | { kind: 'separator'; label: string }
  | { kind: 'target'; label: string; description: string; detail?: string; choice: Choice; ready: boolean }
  | { kind: 'switch-context'; label: string; description: string }
  | { kind: 'switch-namespace'; label: string; description: string }
  | { kind: 'message'; label: string; description?: string };

/** What accepting a row (or pressing Escape) does. */
export type Outcome =
  | { kind: 'picked'; choice: Choice }
  | { kind: 'switch-context' }
  | { kind: 'switch-namespace' }
  /** Nothing: a message or separator was accepted; the picker stays open. */
  | { kind: 'stay' }
  /** Escape (or the picker was closed): the launch is cancelled. */
  | { kind: 'cancelled' };

/** How many recent targets are kept and shown. */
export const RECENT_MAX = 5;

/** Kinds in the order a developer looks for them; others follow alphabetically. */
const KIND_ORDER = ['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'cronjob', 'service', 'pod'];

const LOCAL_KINDS = new Set(['pid', 'container']);

export const isLocalTarget = (target: string): boolean => LOCAL_KINDS.has(target.split('/')[0]);

function kindRank(kind: string): number {
  const at = KIND_ORDER.indexOf(kind);
  return at < 0 ? KIND_ORDER.length : at;
}

/** `2/3 ready` (Kubernetes counts), else `ready` / `not ready`. */
export function readiness(target: TargetInfo): string {
  if (target.ready_count != null && target.total_count != null) return `${target.ready_count}/${target.total_count} ready`;
  return target.ready ? 'ready' : 'not ready';
}

const sameChoice = (a: Choice, b: Choice): boolean =>
  a.target === b.target && a.local === b.local && (a.local || ((a.context ?? '') === (b.context ?? '') && (a.namespace ?? '') === (b.namespace ?? '')));

/** The context the listing is of: the chosen one, else the kubeconfig's current one. */
function effectiveContext(state: PickerState): string | undefined {
  return state.context ?? state.contexts.find((context) => context.current)?.name;
}

/** The choice a listed target makes, naming the context and namespace it was listed in. */
export function choiceOf(state: PickerState, target: TargetInfo): Choice {
  if (isLocalTarget(target.target)) return { target: target.target, local: true };
  return {
    target: target.target,
    context: target.context ?? effectiveContext(state),
    namespace: target.namespace ?? state.namespace,
    local: false,
  };
}

function where(choice: Choice): string {
  if (choice.local) return 'this machine';
  return [choice.context, choice.namespace].filter(Boolean).join(' · ') || 'current context';
}

function targetRow(state: PickerState, target: TargetInfo): Row {
  const choice = choiceOf(state, target);
  const description = [readiness(target), state.allNamespaces && target.namespace ? target.namespace : undefined]
    .filter(Boolean)
    .join(' · ');
  return {
    kind: 'target',
    label: `${target.ready ? '$(pass)' : '$(circle-slash)'} ${target.target}`,
    description,
    detail: target.description ?? undefined,
    choice,
    ready: target.ready,
  };
}

/** The picker's rows for `state`. */
export function rows(state: PickerState): Row[] {
  const out: Row[] = [];
  const listed = [...state.cluster, ...state.local];
  const recent = state.recent.slice(0, RECENT_MAX);
  const isRecent = (target: TargetInfo) => recent.some((choice) => sameChoice(choice, choiceOf(state, target)));
  if (recent.length) {
    out.push({ kind: 'separator', label: 'recent' });
    for (const choice of recent) {
      const info = listed.find((target) => sameChoice(choice, choiceOf(state, target)));
      out.push({
        kind: 'target',
        label: `$(history) ${choice.target}`,
        description: [info ? readiness(info) : undefined, where(choice)].filter(Boolean).join(' · '),
        detail: info?.description ?? undefined,
        choice,
        ready: info?.ready ?? true,
      });
    }
  }
  out.push({ kind: 'separator', label: 'cluster' });
  const current = state.contexts.find((context) => context.current);
  out.push({
    kind: 'switch-context',
    label: `$(server-environment) Context: ${effectiveContext(state) ?? '(none)'}`,
    description: 'switch',
  });
  out.push({
    kind: 'switch-namespace',
    label: `$(symbol-namespace) Namespace: ${state.allNamespaces ? 'all namespaces' : (state.namespace ?? current?.namespace ?? 'default')}`,
    description: 'switch',
  });
  if (state.clusterError) out.push({ kind: 'message', label: `$(warning) ${state.clusterError}` });
  const byKind = new Map<string, TargetInfo[]>();
  for (const target of state.cluster) {
    if (isRecent(target)) continue;
    const group = byKind.get(target.kind) ?? [];
    group.push(target);
    byKind.set(target.kind, group);
  }
  const kinds = [...byKind.keys()].sort((a, b) => kindRank(a) - kindRank(b) || a.localeCompare(b));
  for (const kind of kinds) {
    const group = byKind.get(kind)!.sort((a, b) => a.target.localeCompare(b.target));
    const ready = group.filter((target) => target.ready).length;
    out.push({ kind: 'separator', label: `${kind} · ${ready} of ${group.length} ready` });
    for (const target of group) out.push(targetRow(state, target));
  }
  if (!state.loading && !state.clusterError && state.cluster.length === 0) {
    out.push({ kind: 'message', label: 'no workloads here', description: 'switch the namespace or the context' });
  }
  const local = state.local.filter((target) => !isRecent(target));
  if (local.length) {
    out.push({ kind: 'separator', label: 'this machine' });
    for (const target of local) out.push(targetRow(state, target));
  }
  if (state.loading) out.push({ kind: 'message', label: '$(loading~spin) listing targets…' });
  return out;
}

/** What accepting `row` means; `undefined` is Escape or a closed picker. */
export function accept(row: Row | undefined): Outcome {
  if (!row) return { kind: 'cancelled' };
  switch (row.kind) {
    case 'target':
      return { kind: 'picked', choice: row.choice };
    case 'switch-context':
      return { kind: 'switch-context' };
    case 'switch-namespace':
      return { kind: 'switch-namespace' };
    default:
      return { kind: 'stay' };
  }
}

/** The state after switching to `context` (its own default namespace, the listing reloaded). */
export function withContext(state: PickerState, context: string): PickerState {
  const info = state.contexts.find((c) => c.name === context);
  return { ...state, context, namespace: info?.namespace ?? undefined, allNamespaces: false, cluster: [], clusterError: undefined, loading: true };
}

/** The state after switching to `namespace` (undefined: all namespaces). */
export function withNamespace(state: PickerState, namespace: string | undefined): PickerState {
  return { ...state, namespace, allNamespaces: namespace === undefined, cluster: [], clusterError: undefined, loading: true };
}

/** `recent` with `choice` first, without duplicates, at most RECENT_MAX long. */
export function remember(recent: Choice[], choice: Choice): Choice[] {
  return [choice, ...recent.filter((other) => !sameChoice(other, choice))].slice(0, RECENT_MAX);
}

/** Rows of the namespace switch: every namespace, the current one first, and "all namespaces". */
export function namespaceRows(namespaces: string[], current: string | undefined): Array<{ label: string; namespace?: string }> {
  const sorted = [...namespaces].sort((a, b) => (a === current ? -1 : b === current ? 1 : a.localeCompare(b)));
  return [...sorted.map((namespace) => ({ label: namespace, namespace })), { label: '$(list-flat) all namespaces' }];
}
