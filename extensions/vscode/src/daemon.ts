// The daemon, as this extension reaches it: a `tether lsp` child (vscode-languageclient) that
// forwards `tether/<method>` requests to the daemon (starting it when none runs), pushes its
// `tether/session.event` and `tether/targets.changed` notifications, and serves `.tether/*.json`
// documents. Started on first use; typed by the generated API.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  ResponseError,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { findTether } from './bootstrap';
import { TetherError } from './errors';
import { API_VERSION, ErrorCodes, type Notifications, type Requests } from './generated/api';
import type { Logs } from './logs';

const CLIENT_NAME = 'vscode-tether';

export class Daemon implements vscode.Disposable {
  private client?: LanguageClient;
  private starting?: Promise<LanguageClient>;
  private readonly sessionEvents = new vscode.EventEmitter<Notifications['session.event']>();
  private readonly targetsChanged = new vscode.EventEmitter<Notifications['targets.changed']>();
  private readonly connectionLost = new vscode.EventEmitter<void>();
  /** Every `session.event` of the daemon (all sessions and preparations). */
  readonly onSessionEvent = this.sessionEvents.event;
  /** A listing of the current context's, or this machine's, targets changed. */
  readonly onTargetsChanged = this.targetsChanged.event;
  /** `tether lsp` exited (or was restarted): the sessions it prepared have ended. */
  readonly onConnectionLost = this.connectionLost.event;

  constructor(
    private readonly extensionPath: string,
    private readonly version: string,
    private readonly logs: Logs,
  ) {}

  /** Calls the daemon's `method`; its errors come back as {@link TetherError}s. */
  async request<M extends keyof Requests>(method: M, params: Requests[M]['params']): Promise<Requests[M]['result']> {
    const client = await this.start();
    try {
      return await client.sendRequest<Requests[M]['result']>(`tether/${method}`, params ?? null);
    } catch (err) {
      throw asTetherError(err);
    }
  }

  /** The running client, starting `tether lsp` (and saying hello) when there is none. */
  start(): Promise<LanguageClient> {
    if (this.client?.state === State.Running) return Promise.resolve(this.client);
    this.starting ??= this.launch().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async launch(): Promise<LanguageClient> {
    if (this.client) {
      // Stopped or failed: start it again.
      await this.client.dispose().catch(() => undefined);
      this.client = undefined;
    }
    const setting = vscode.workspace.getConfiguration('tether').get<string>('path');
    const bundled = path.join(this.extensionPath, 'bin', 'tether');
    const found = findTether(setting, process.env.PATH, bundled, isExecutable);
    if ('error' in found) throw new TetherError(-1, found.error);
    this.logs.info(`starting ${found.path} lsp (from ${found.from})`);
    const server: ServerOptions = { command: found.path, args: ['lsp'], options: { env: process.env } };
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', pattern: '**/.tether/*.json' }],
      outputChannel: this.logs.channel,
      // Failures are shown as notifications with "Show logs".
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.logs.info('tether lsp exited; the sessions it prepared have ended');
          this.connectionLost.fire();
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new LanguageClient('tether', 'tether', server, options);
    client.onNotification('tether/session.event', (event: Notifications['session.event']) => this.sessionEvents.fire(event));
    client.onNotification('tether/targets.changed', (event: Notifications['targets.changed']) => this.targetsChanged.fire(event));
    this.client = client;
    await client.start();
    try {
      const hello = await client.sendRequest<Requests['daemon.hello']['result']>('tether/daemon.hello', {
        client: `${CLIENT_NAME} ${this.version}`,
        api_version: API_VERSION,
      });
      this.logs.info(`daemon ${hello.daemon_version} (pid ${hello.pid}, API ${hello.api_version})`);
      const status = await client.sendRequest<Requests['daemon.status']['result']>('tether/daemon.status', null);
      this.logs.setDaemonLog(status.log_path);
    } catch (err) {
      const error = asTetherError(err);
      if (error.code === ErrorCodes.INCOMPATIBLE_VERSION) {
        await client.stop().catch(() => undefined);
        throw error;
      }
      // The daemon may be unreachable for now; requests say so themselves.
      this.logs.info(`daemon.hello failed: ${error.message}`);
    }
    return client;
  }

  /** Shuts the daemon down (its sessions end, its agents stop) and starts a new one. */
  async restart(): Promise<void> {
    const client = this.client;
    if (client?.state === State.Running) {
      await client.sendRequest('tether/daemon.shutdown', null).then(
        () => undefined,
        (err: unknown) => this.logs.info(`daemon.shutdown: ${asTetherError(err).message}`),
      );
      await client.stop().catch(() => undefined);
    }
    this.connectionLost.fire();
    await this.start();
  }

  dispose(): void {
    void this.client?.stop().catch(() => undefined);
    this.sessionEvents.dispose();
    this.targetsChanged.dispose();
    this.connectionLost.dispose();
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function asTetherError(err: unknown): TetherError {
  if (err instanceof TetherError) return err;
  if (err instanceof ResponseError) return new TetherError(err.code, err.message, err.data);
  return new TetherError(-1, err instanceof Error ? err.message : String(err));
}
