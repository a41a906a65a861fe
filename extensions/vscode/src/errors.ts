// The daemon's typed errors as a user reads them (pure: no vscode import). The daemon's message
// says what happened and what to do; this adds what kind of failure it is, from its code.

import { ErrorCodes, type ConfigInvalidData, type Diagnostic } from './generated/api';

/** An error answered by the daemon (through `tether lsp`), or by the LSP transport. */
export class TetherError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }

  /** The diagnostics of a CONFIG_INVALID error. */
  get diagnostics(): Diagnostic[] {
    if (this.code !== ErrorCodes.CONFIG_INVALID) return [];
    return (this.data as ConfigInvalidData | undefined)?.diagnostics ?? [];
  }
}

const TITLES: Record<number, string> = {
  [ErrorCodes.TARGET_NOT_FOUND]: 'target not found',
  [ErrorCodes.CONFIG_INVALID]: 'the config is invalid',
  [ErrorCodes.AGENT_START_FAILED]: 'the agent could not start',
  [ErrorCodes.CLUSTER_UNREACHABLE]: 'the cluster cannot be reached',
  [ErrorCodes.NOT_PERMITTED]: 'not permitted',
  [ErrorCodes.INCOMPATIBLE_VERSION]: 'this extension and the tether daemon speak different API versions',
  [ErrorCodes.SESSION_NOT_FOUND]: 'no such session',
  [ErrorCodes.TARGET_NOT_READY]: 'the target is not ready',
  [ErrorCodes.POD_SECURITY_REJECTED]: "the namespace's pod security refused the agent pod",
  [ErrorCodes.IMAGE_PULL_FAILED]: 'the agent image could not be pulled',
  [ErrorCodes.NODE_REFUSED]: 'the node refused the agent pod',
  [ErrorCodes.AGENT_START_TIMEOUT]: 'the agent pod did not start in time',
};

/** The name of a code (`POD_SECURITY_REJECTED`), for logs. */
export function codeName(code: number): string | undefined {
  return Object.entries(ErrorCodes).find(([, value]) => value === code)?.[0];
}

/** One line for a notification: `tether: <kind>: <the daemon's message>`. */
export function describe(err: unknown, doing: string): string {
  if (err instanceof TetherError) {
    const title = TITLES[err.code];
    const diagnostics = err.diagnostics;
    const message = diagnostics.length ? diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('; ') : err.message;
    return title ? `tether: ${title}: ${message}` : `tether: ${doing} failed: ${message}`;
  }
  return `tether: ${doing} failed: ${err instanceof Error ? err.message : String(err)}`;
}
