// The "tether" output channel: this extension's log lines and `tether lsp`'s stderr (the
// language client writes it here), and, when shown, what the daemon wrote to its log file
// since the last time.

import * as fs from 'node:fs';
import * as vscode from 'vscode';

export class Logs implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel('tether', { log: true });
  /** The daemon's log file and how much of it the channel has shown. */
  private daemonLog?: { path: string; shown: number };

  info(line: string): void {
    this.channel.info(line);
  }

  /** Remembers the daemon's log file (from `daemon.status`); showing starts at its end. */
  setDaemonLog(path: string): void {
    if (this.daemonLog?.path === path) return;
    let size = 0;
    try {
      size = fs.statSync(path).size;
    } catch {
      // Not written yet: show it from the start.
    }
    this.daemonLog = { path, shown: size };
    this.info(`daemon log: ${path}`);
  }

  /** Shows the channel, with the daemon log's new lines (at most the last 256 KiB of them). */
  show(): void {
    this.appendDaemonLog();
    this.channel.show(true);
  }

  private appendDaemonLog(): void {
    const log = this.daemonLog;
    if (!log) return;
    try {
      const size = fs.statSync(log.path).size;
      if (size < log.shown) log.shown = 0; // rotated or truncated
      const from = Math.max(log.shown, size - 256 * 1024);
      if (size > from) {
        const fd = fs.openSync(log.path, 'r');
        try {
          const buffer = Buffer.alloc(size - from);
          fs.readSync(fd, buffer, 0, buffer.length, from);
          this.channel.info(`---- ${log.path} ----`);
          for (const line of buffer.toString('utf8').split('\n')) if (line) this.channel.info(`daemon: ${line}`);
          this.channel.info('---- end of the daemon log ----');
        } finally {
          fs.closeSync(fd);
        }
      }
      log.shown = size;
    } catch (err) {
      this.info(`cannot read the daemon log ${log.path}: ${err instanceof Error ? err.message : err}`);
    }
  }

  dispose(): void {
    this.channel.dispose();
  }
}
