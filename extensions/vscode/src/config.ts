// Where a launch's tether config comes from, and which target, context and namespace a launch
// uses (pure: no vscode import). The daemon parses and resolves the config (`config.resolve`);
// this only finds it and orders the choices.

import * as path from 'node:path';
import type { Config } from './generated/config';
import type { ConfigParams } from './generated/api';
import type { Choice } from './picker';
import type { DebugConfig } from './launch';

/** The workspace's config file, relative to its folder. */
export const CONFIG_FILE = path.join('.tether', 'config.json');

/** Where a launch's config is. */
export type ConfigSource =
  /** The launch's own `tether` block. */
  | { kind: 'inline'; config: Config }
  /** A config file: the launch's `"tether": "path"` or the workspace's `.tether/config.json`. */
  | { kind: 'file'; path: string }
  /** No config: every default. */
  | { kind: 'none' };

/**
 * The config of `launch`: its own `tether` block (an object, or a path relative to the folder),
 * else `.tether/config.json` of the workspace folder when it exists.
 */
export function configSource(launch: DebugConfig, folder: string | undefined, exists: (file: string) => boolean): ConfigSource {
  const own = launch.tether;
  if (own && typeof own === 'object' && !Array.isArray(own)) return { kind: 'inline', config: own as Config };
  if (typeof own === 'string' && own !== '') {
    return { kind: 'file', path: folder && !path.isAbsolute(own) ? path.join(folder, own) : own };
  }
  if (folder) {
    const file = path.join(folder, CONFIG_FILE);
    if (exists(file)) return { kind: 'file', path: file };
  }
  return { kind: 'none' };
}

/** How `config.resolve` is asked about `source`; undefined for no config. */
export function resolveParams(source: ConfigSource): ConfigParams | undefined {
  switch (source.kind) {
    case 'inline':
      return { path: 'the launch configuration\'s "tether" block', text: JSON.stringify(source.config, null, 2) };
    case 'file':
      return { path: source.path };
    case 'none':
      return undefined;
  }
}

/** How `session.prepare` (and `targets.prewarm`) get the config. */
export function prepareConfig(source: ConfigSource): { config_path?: string; config?: Record<string, unknown> } {
  // The API types an inline config as any JSON object; the daemon checks it against the schema.
  if (source.kind === 'inline') return { config: source.config as Record<string, unknown> };
  if (source.kind === 'file') return { config_path: source.path };
  return {};
}

/** The settings that take part in choosing a target. */
export interface Defaults {
  context?: string;
  namespace?: string;
}

/** What a launch asks the daemon for. */
export interface LaunchTarget {
  target: string;
  context?: string;
  namespace?: string;
}

/**
 * The target of a launch without asking: the launch's own `tether` block names one, else the
 * target chosen with "tether: Select Target", else the config file's. Undefined: ask (the
 * picker). The context and namespace go with the target they were chosen with; for a config's
 * target the daemon applies the config's, so none are sent.
 */
export function launchTarget(source: ConfigSource, resolved: Config | undefined, selected: Choice | undefined): LaunchTarget | undefined {
  if (source.kind === 'inline' && resolved?.target) return { target: resolved.target };
  if (selected) return fromChoice(selected);
  if (resolved?.target) return { target: resolved.target };
  return undefined;
}

export function fromChoice(choice: Choice): LaunchTarget {
  return choice.local ? { target: choice.target } : { target: choice.target, context: choice.context, namespace: choice.namespace };
}

/**
 * Where the picker starts: the config's context and namespace, else the settings', else where
 * the most recent cluster target was picked.
 */
export function pickerStart(resolved: Config | undefined, defaults: Defaults, recent: Choice[] = []): Defaults {
  const configured = {
    context: resolved?.context || defaults.context || undefined,
    namespace: resolved?.namespace || defaults.namespace || undefined,
  };
  const last = recent.find((choice) => !choice.local);
  if (configured.context || configured.namespace || !last) return configured;
  return { context: last.context, namespace: last.namespace };
}

/**
 * The file `tether: Open Config` creates: the sections a first config changes, at their
 * defaults (hover shows what each key does; the daemon reads strict JSON, so there are no
 * comments). No `target`: launches ask for one until it is added.
 */
export function configTemplate(): string {
  const template = {
    env: { include: [], exclude: [], override: {}, unset: [] },
    fs: { mode: 'read', local: [], not_found: [] },
    dns: { enabled: true, local: [] },
    outgoing: { tcp: true, udp: true, local: [] },
    incoming: { mode: 'mirror' },
  };
  return JSON.stringify(template, null, 2) + '\n';
}
