// Launch patching, per debug type (pure: no vscode import). Which debug launches tether takes,
// how a debug configuration describes the process it starts (for `session.prepare`), and how the
// environment the daemon returns is merged into that one launch. The debug configuration is
// copied, never changed in place, so nothing reaches launch.json.

import type { Launch, SessionPrepared } from './generated/api';

/** A debug configuration as VS Code hands it to a provider (launch.json plus defaults). */
export interface DebugConfig {
  type: string;
  request: string;
  name: string;
  [key: string]: unknown;
}

/** How an adapter takes environment variables, and whether it can remove one. */
export type EnvStyle =
  /** `env: {NAME: value}`; `null` removes NAME (js-debug, delve). */
  | 'object-null-unsets'
  /** `env: {NAME: value}`, strings only (debugpy, java, vsdbg, CodeLLDB). */
  | 'object'
  /** `environment: [{name, value}]` (cpptools). */
  | 'name-value-array'
  /** `env: ["NAME=value"]` (lldb-dap; an object is accepted too). */
  | 'string-array';

interface Adapter {
  env: EnvStyle;
  /** The process the launch starts: program and arguments as the daemon's presets read them. */
  process(config: DebugConfig): { program: string; args: string[] };
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' && value ? [value] : [];
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

const node: Adapter = {
  env: 'object-null-unsets',
  process: (c) => ({
    program: text(c.runtimeExecutable) ?? 'node',
    args: [...strings(c.runtimeArgs), ...strings(c.program), ...strings(c.args)],
  }),
};

const python: Adapter = {
  env: 'object',
  process: (c) => ({
    program: text(c.python) ?? text(c.pythonPath) ?? 'python3',
    args: [...(text(c.module) ? ['-m', c.module as string] : strings(c.program)), ...strings(c.args)],
  }),
};

const native = (env: EnvStyle): Adapter => ({
  env,
  process: (c) => ({ program: text(c.program) ?? c.type, args: strings(c.args) }),
});

/** Every debug type tether knows, by the `type` of a launch configuration. */
export const ADAPTERS: Record<string, Adapter> = {
  node,
  'pwa-node': node,
  'node-terminal': {
    env: 'object-null-unsets',
    process: (c) => ({ program: '/bin/sh', args: ['-c', text(c.command) ?? 'npm start'] }),
  },
  python,
  debugpy: python,
  go: {
    env: 'object-null-unsets',
    process: (c) => ({ program: text(c.program) ?? 'go', args: strings(c.args) }),
  },
  java: {
    env: 'object',
    process: (c) => ({ program: 'java', args: [...strings(c.vmArgs), ...strings(c.mainClass), ...strings(c.args)] }),
  },
  coreclr: native('object'),
  lldb: native('object'),
  'lldb-dap': native('string-array'),
  cppdbg: native('name-value-array'),
  cppvsdbg: native('name-value-array'),
};

/** Debug types that do not start a process of the user's: browsers and editor hosts. */
const NOT_A_USER_PROCESS = new Set(['chrome', 'pwa-chrome', 'msedge', 'pwa-msedge', 'extensionHost', 'pwa-extensionHost']);

/** Why tether leaves a debug configuration alone, or undefined when it takes it. */
export function leftAlone(config: DebugConfig): string | undefined {
  if (config.request !== 'launch') return `a ${config.request} request starts no process`;
  if ('__parentId' in config) return 'a child session of a launch tether already took';
  if (config.tether === false) return 'the launch says "tether": false';
  if (NOT_A_USER_PROCESS.has(config.type)) return `${config.type} launches do not start a program of yours`;
  return undefined;
}

const adapterOf = (type: string): Adapter => ADAPTERS[type] ?? native('object');

/** The environment the process would get without tether: the host's, then the launch's own. */
export function launchEnv(config: DebugConfig, host: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(host)) if (value !== undefined) env[name] = value;
  for (const [name, value] of configuredEnv(config)) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** The launch's own variables (`null`: removed), whatever shape its adapter uses. */
function configuredEnv(config: DebugConfig): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  const fromObject = (value: unknown) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [name, v] of Object.entries(value)) if (typeof v === 'string' || v === null) out.push([name, v]);
    }
  };
  if (Array.isArray(config.environment)) {
    for (const entry of config.environment) {
      if (entry && typeof entry.name === 'string') out.push([entry.name, typeof entry.value === 'string' ? entry.value : '']);
    }
  }
  if (Array.isArray(config.env)) {
    for (const entry of config.env) {
      if (typeof entry !== 'string') continue;
      const at = entry.indexOf('=');
      out.push(at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]);
    }
  } else fromObject(config.env);
  return out;
}

/** What `session.prepare` is told about the launch. */
export function describeLaunch(config: DebugConfig, host: Record<string, string | undefined>): Launch {
  const { program, args } = adapterOf(config.type).process(config);
  return { debug_type: config.type, program, args, cwd: text(config.cwd) ?? null, env: launchEnv(config, host) };
}

/** A patched configuration and what the user should know about it. */
export interface Patched {
  config: DebugConfig;
  /** E.g. variables an adapter cannot remove, set empty instead. */
  notes: string[];
}

/**
 * `config` with the prepared session's environment: `prepared.env` set over the launch's own
 * variables and `prepared.unset` removed (or, where the adapter cannot remove a variable, set
 * to the empty string, with a note). `marker` is stored as `__tether` so the session can be found
 * again from the debug session.
 */
export function applyPrepared(config: DebugConfig, prepared: Pick<SessionPrepared, 'env' | 'unset'>, marker?: unknown): Patched {
  const style = adapterOf(config.type).env;
  const patched: DebugConfig = structuredClone(config);
  const notes: string[] = [];
  const cannotUnset = () => {
    if (prepared.unset.length) {
      notes.push(`the ${config.type} debugger cannot remove environment variables; ${prepared.unset.join(', ')} set to an empty value instead`);
    }
  };
  switch (style) {
    case 'object-null-unsets':
    case 'object': {
      const env: Record<string, string | null> = { ...objectEnv(config.env) };
      Object.assign(env, prepared.env);
      for (const name of prepared.unset) env[name] = style === 'object-null-unsets' ? null : '';
      if (style === 'object') cannotUnset();
      patched.env = env;
      break;
    }
    case 'name-value-array': {
      const changed = new Set([...Object.keys(prepared.env), ...prepared.unset]);
      const kept = (Array.isArray(config.environment) ? config.environment : []).filter(
        (entry: { name?: unknown }) => !changed.has(entry?.name as string),
      );
      patched.environment = [
        ...kept,
        ...Object.entries(prepared.env).map(([name, value]) => ({ name, value })),
        ...prepared.unset.map((name) => ({ name, value: '' })),
      ];
      cannotUnset();
      break;
    }
    case 'string-array': {
      const merged = new Map(configuredEnv(config).filter(([, v]) => v !== null) as Array<[string, string]>);
      for (const [name, value] of Object.entries(prepared.env)) merged.set(name, value);
      for (const name of prepared.unset) merged.set(name, '');
      patched.env = [...merged].map(([name, value]) => `${name}=${value}`);
      cannotUnset();
      break;
    }
  }
  if (marker !== undefined) patched.__tether = marker;
  return { config: patched, notes };
}

function objectEnv(value: unknown): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [name, v] of Object.entries(value)) if (typeof v === 'string' || v === null) out[name] = v;
  }
  return out;
}

/**
 * The environment part of `launchArguments` (a DAP launch request's arguments, i.e. a patched
 * configuration) moved from one session to a fresh one: the variables `previous` set are
 * replaced by those of `fresh`. Used when a restart relaunches with the configuration in
 * memory.
 */
export function swapPrepared(
  launchArguments: DebugConfig,
  previous: Pick<SessionPrepared, 'env' | 'unset'>,
  fresh: Pick<SessionPrepared, 'env' | 'unset'>,
  marker?: unknown,
): Patched {
  const without: DebugConfig = structuredClone(launchArguments);
  const style = adapterOf(launchArguments.type).env;
  const previousNames = new Set([...Object.keys(previous.env), ...previous.unset]);
  if (style === 'name-value-array' && Array.isArray(without.environment)) {
    without.environment = without.environment.filter((entry: { name?: unknown }) => !previousNames.has(entry?.name as string));
  } else if (style === 'string-array' && Array.isArray(without.env)) {
    without.env = without.env.filter((entry: unknown) => typeof entry !== 'string' || !previousNames.has(entry.split('=')[0]));
  } else if (without.env && typeof without.env === 'object') {
    const env = { ...(without.env as Record<string, unknown>) };
    for (const name of previousNames) delete env[name];
    without.env = env;
  }
  return applyPrepared(without, fresh, marker);
}
