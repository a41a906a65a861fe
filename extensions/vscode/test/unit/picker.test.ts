// The target picker's model: what a user sees in the quick pick and what picking a row does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TargetInfo } from '../../src/generated/api';
import { accept, namespaceRows, remember, rows, withContext, withNamespace, type Choice, type PickerState, type Row } from '../../src/picker';

const workload = (kind: string, name: string, ready: number, total: number): TargetInfo => ({
  target: `${kind}/${name}`, kind, name, namespace: 'shop', ready: ready > 0, ready_count: ready, total_count: total,
});
const pid: TargetInfo = { target: 'pid/4242', kind: 'pid', name: '4242', ready: true, description: 'sleep infinity' };

function state(overrides: Partial<PickerState> = {}): PickerState {
  return {
    namespace: 'shop', allNamespaces: false, loading: false, recent: [], local: [pid],
    contexts: [{ name: 'kind-a', cluster: 'a', namespace: 'shop', current: true }, { name: 'prod', cluster: 'p', current: false }],
    cluster: [workload('pod', 'orders-5f9c7-x2x1z', 1, 1), workload('deployment', 'payments', 0, 1), workload('deployment', 'orders', 2, 3)],
    ...overrides,
  };
}

const labels = (list: Row[]) => list.map((row) => (row.kind === 'separator' ? `-- ${row.label}` : row.label));
const firstSelectable = (list: Row[]) => list.find((row) => row.kind !== 'separator');

describe('rows', () => {
  it('shows the most recent target first, so Enter picks it', () => {
    const recent: Choice[] = [{ target: 'deployment/orders', context: 'kind-a', namespace: 'shop', local: false }, { target: 'pid/4242', local: true }];
    const list = rows(state({ recent }));
    const first = firstSelectable(list);
    assert.equal(first?.kind, 'target');
    assert.equal(first?.kind === 'target' && first.choice.target, 'deployment/orders');
    assert.equal(first?.kind === 'target' && first.description, '2/3 ready · kind-a · shop');
    // Not listed twice.
    assert.equal(list.filter((row) => row.kind === 'target' && row.choice.target === 'deployment/orders').length, 1);
  });

  it('groups workloads by kind, deployments before pods, each group with its ready count', () => {
    const list = labels(rows(state()));
    assert.deepEqual(list, [
      '-- cluster',
      '$(server-environment) Context: kind-a',
      '$(symbol-namespace) Namespace: shop',
      '-- deployment · 1 of 2 ready',
      '$(pass) deployment/orders',
      '$(circle-slash) deployment/payments',
      '-- pod · 1 of 1 ready',
      '$(pass) pod/orders-5f9c7-x2x1z',
      '-- this machine',
      '$(pass) pid/4242',
    ]);
    const orders = rows(state()).find((row) => row.kind === 'target' && row.choice.target === 'deployment/orders');
    assert.equal(orders?.kind === 'target' && orders.description, '2/3 ready');
  });

  it('lists this machine\'s stand-ins even when the cluster cannot be listed, saying why', () => {
    const list = rows(state({ cluster: [], clusterError: 'the cluster cannot be reached: no kubeconfig' }));
    assert.ok(labels(list).includes('$(warning) the cluster cannot be reached: no kubeconfig'));
    const local = list.find((row) => row.kind === 'target' && row.choice.target === 'pid/4242');
    assert.deepEqual(local?.kind === 'target' && local.choice, { target: 'pid/4242', local: true });
  });

  it('says so when a namespace has no workloads, and while listing', () => {
    assert.ok(labels(rows(state({ cluster: [] }))).includes('no workloads here'));
    assert.ok(labels(rows(state({ cluster: [], loading: true }))).includes('$(loading~spin) listing targets…'));
  });

  it('picks cluster targets with the context and namespace they were listed in', () => {
    const row = rows(state({ context: 'kind-a' })).find((r) => r.kind === 'target' && r.choice.target === 'deployment/payments');
    assert.deepEqual(accept(row), { kind: 'picked', choice: { target: 'deployment/payments', context: 'kind-a', namespace: 'shop', local: false } });
  });
});

describe('accept', () => {
  it('cancels on Escape', () => {
    assert.deepEqual(accept(undefined), { kind: 'cancelled' });
  });

  it('switches context or namespace from their rows and stays open on a message', () => {
    const list = rows(state({ clusterError: 'x' }));
    assert.deepEqual(accept(list.find((row) => row.kind === 'switch-context')), { kind: 'switch-context' });
    assert.deepEqual(accept(list.find((row) => row.kind === 'switch-namespace')), { kind: 'switch-namespace' });
    assert.deepEqual(accept(list.find((row) => row.kind === 'message')), { kind: 'stay' });
  });
});

describe('switching', () => {
  it('a new context starts in its own namespace and lists again', () => {
    const next = withContext(state(), 'prod');
    assert.equal(next.context, 'prod');
    assert.equal(next.namespace, undefined);
    assert.equal(next.loading, true);
    assert.ok(labels(rows(next)).includes('$(server-environment) Context: prod'));
  });

  it('a namespace, or all of them', () => {
    assert.ok(labels(rows(withNamespace(state(), 'dev'))).includes('$(symbol-namespace) Namespace: dev'));
    const all = withNamespace(state(), undefined);
    assert.equal(all.allNamespaces, true);
    assert.ok(labels(rows(all)).includes('$(symbol-namespace) Namespace: all namespaces'));
  });

  it('offers the current namespace first and "all namespaces" last', () => {
    assert.deepEqual(namespaceRows(['default', 'shop', 'kube-system'], 'shop').map((row) => row.label), ['shop', 'default', 'kube-system', '$(list-flat) all namespaces']);
  });
});

describe('remember', () => {
  it('puts the last pick first, once, keeping five', () => {
    let recent: Choice[] = [];
    for (let i = 1; i <= 7; i++) recent = remember(recent, { target: `pid/${i}`, local: true });
    recent = remember(recent, { target: 'pid/5', local: true });
    assert.deepEqual(recent.map((choice) => choice.target), ['pid/5', 'pid/7', 'pid/6', 'pid/4', 'pid/3']);
  });

  it('tells the same workload in two namespaces apart', () => {
    const recent = remember([{ target: 'deployment/orders', namespace: 'dev', local: false }], { target: 'deployment/orders', namespace: 'shop', local: false });
    assert.equal(recent.length, 2);
  });
});
