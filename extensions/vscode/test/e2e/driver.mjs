// The end-to-end test's driver: code-server in headless Chromium through playwright-core, used
// as a person would: the status bar toggle, a breakpoint, F5, the target picker, the Debug
// Console, restart, stop, the commands, Cancel while an agent starts, a running session's
// warning. The daemon's view (`tether rpc session.list`) is checked beside the UI.
//
//   node driver.mjs CASE_JSON
// CASE_JSON: {url, workspace, tether, target, filter, namespace?, breakpointLine, expect: [lines],
//             shots: dir, shotPrefix, artifacts: dir, commandChecks?, cancelChecks?, cancelTarget?,
//             kubectl?, unservedPort?, extensionLogs: dir}
// Prints one line per check ("ok - ..." / "not ok - ...") and ends with "N passed, N failed".

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const spec = JSON.parse(process.argv[2]);
let passed = 0;
let failed = 0;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

function check(name, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${detail ? `: ${detail}` : ''} [${elapsed()}]`);
  return ok;
}

/** The daemon's sessions, asked the way a user would from a shell. */
function sessionList() {
  const out = execFileSync(spec.tether, ['rpc', 'session.list'], { encoding: 'utf8', timeout: 20000 });
  return JSON.parse(out);
}

/** The daemon's pid (`daemon.status`). */
function daemonPid() {
  const out = execFileSync(spec.tether, ['rpc', 'daemon.status'], { encoding: 'utf8', timeout: 20000 });
  return JSON.parse(out).pid;
}

/** Agent pods tether made in the cluster (any namespace): name -> phase. */
function agentPods() {
  const out = execFileSync(spec.kubectl, ['get', 'pods', '-A', '-l', 'app.kubernetes.io/managed-by=tether', '-o', 'json'], { encoding: 'utf8', timeout: 30000 });
  return new Map(JSON.parse(out).items.map((pod) => [`${pod.metadata.namespace}/${pod.metadata.name}`, pod.status?.phase ?? '']));
}

async function eventually(what, probe, timeoutMs = 30000, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
const page = await context.newPage();
const shot = async (name) => {
  const file = path.join(spec.shots, `${spec.shotPrefix}${name}.png`);
  await page.screenshot({ path: file });
  return file;
};

const statusItem = () => page.locator('[id="tether-dev.tether.tether.toggle"]');
const quickInput = () => page.locator('.quick-input-widget');
const quickRows = () => page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
const debugToolbar = () => page.locator('.debug-toolbar');
const pausedFrame = () => page.locator('.monaco-editor .codicon-debug-stackframe');

async function quickPickRow(text, timeoutMs = 30000) {
  const row = quickRows().filter({ hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  return row;
}

/** The status-bar item's tooltip, as hovering it shows it. */
async function statusTooltip() {
  const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Target:' }).first();
  const text = await eventually('the status bar tooltip', async () => {
    await page.mouse.move(700, 10);
    await statusItem().hover();
    await hover.waitFor({ state: 'visible', timeout: 5000 });
    return hover.innerText();
  }, 30000, 0);
  await page.mouse.move(700, 10);
  return text;
}

async function command(name) {
  await page.keyboard.press('F1');
  await page.locator('.quick-input-box input').fill(`>${name}`);
  await quickPickRow(name, 10000);
  await page.keyboard.press('Enter');
}

async function pickTarget() {
  await quickInput().waitFor({ state: 'visible', timeout: 30000 });
  await page.locator('.quick-input-widget .quick-input-title', { hasText: 'tether: target of' }).waitFor({ timeout: 10000 });
  if (spec.namespace) {
    // Switch the namespace inside the picker, as a person would.
    await eventually('the namespace list', async () => {
      await (await quickPickRow('Namespace:', 10000)).click();
      return page.locator('.quick-input-box input[placeholder="Pick the namespace"]').waitFor({ timeout: 3000 }).then(() => true);
    }, 30000, 0);
    // Typed, then Enter: a click can land on another row when the list is refreshed under it.
    await page.locator('.quick-input-box input').fill(spec.namespace);
    await quickPickRow(spec.namespace);
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: 'Namespace: ' + spec.namespace }).waitFor({ timeout: 30000 });
  }
  // The listing is in (other tests' stand-in pods may be listed too, above ours).
  await quickPickRow(spec.listedKind, 60000);
}

/** `.tether/config.json` through `tether lsp`: the template, diagnostics, live target completion. */
async function configDocument() {
  await command('tether: Open or Create Config');
  await page.locator('.monaco-editor .view-lines', { hasText: '"incoming"' }).first().waitFor({ timeout: 20000 });
  const editor = page.locator('.editor-group-container.active .monaco-editor').first();
  await page.waitForTimeout(3000);
  check('"Open or Create Config" opens a template the daemon finds valid', (await editor.locator('.squiggly-error').count()) === 0);
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText('{"fs": {"mode": "reed"}}');
  await page.keyboard.press('Control+Shift+M');
  const problem = await page.locator('.markers-panel', { hasText: 'unknown variant `reed`' }).first().waitFor({ timeout: 20000 }).then(() => true, () => false);
  check('a wrong value in .tether/config.json is reported by the daemon (Problems: unknown variant `reed`)', problem);
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // Typed up to the cursor, so the (long, virtualized) suggestion list shows it first.
  await page.keyboard.insertText(`{"target": "${spec.target}"}`);
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  const suggestion = page.locator('.suggest-widget .monaco-list-row', { hasText: spec.target }).first();
  let suggested = false;
  for (let attempt = 0; attempt < 3 && !suggested; attempt++) {
    // The suggest widget closes when the first answer has nothing (the daemon was still listing).
    await page.keyboard.press('Control+Space');
    suggested = await suggestion.waitFor({ timeout: 15000 }).then(() => true, () => false);
  }
  await shot('completion');
  check(`completion of "target" offers the live target ${spec.target}`, suggested);
  await page.keyboard.press('Escape');
  // Back to the template on disk: F5 saves dirty editors, and a saved target would answer the
  // next launches' picker.
  await command('File: Revert File');
}

/** Select Target: launches stop asking; Show Sessions stops a session; Clear Target. */
async function selectedTargetAndSessions() {
  await command('tether: Select Target');
  await page.locator('.quick-input-widget .quick-input-title', { hasText: 'tether: target of the next launches' }).waitFor({ timeout: 15000 });
  await page.locator('.quick-input-box input').fill(spec.filter);
  await quickPickRow(spec.target, 30000);
  await page.keyboard.press('Enter');
  await quickInput().waitFor({ state: 'hidden', timeout: 10000 });
  await page.locator('.tabs-container .tab', { hasText: 'app.js' }).first().click();
  await page.locator('.monaco-editor .view-lines', { hasText: 'DEMO_GREETING' }).first().click();
  await page.keyboard.press('F5');
  await pausedFrame().first().waitFor({ timeout: 60000 });
  const asked = await page.locator('.quick-input-widget .quick-input-title', { hasText: 'tether: target of' }).isVisible();
  const running = sessionList();
  check('with a target selected, F5 starts without asking and stops at the breakpoint', !asked && running.length === 1);
  const tooltip = await statusTooltip().catch((err) => `(no tooltip: ${err.message})`);
  check(`the status bar's tooltip shows the selected target ${spec.target} and the session ${running[0]?.session_id}`,
    tooltip.includes(`Target: ${spec.target}`) && running.length === 1 && tooltip.includes(running[0].session_id), JSON.stringify(tooltip));
  await command('tether: Show Sessions');
  await quickPickRow(spec.sessionTarget, 15000);
  await page.keyboard.press('Enter');
  await debugToolbar().waitFor({ state: 'hidden', timeout: 20000 }).catch(() => undefined);
  const stopped = await eventually('the session to end', () => (sessionList().length === 0 ? true : undefined), 15000).catch(() => false);
  check('"Show Sessions" lists the session and Enter stops it with its debug session', stopped === true && !(await debugToolbar().isVisible()), JSON.stringify(sessionList()));
  await command('tether: Clear Target');
  await page.locator('.monaco-editor .view-lines', { hasText: 'DEMO_GREETING' }).first().click();
  await page.keyboard.press('F5');
  const asksAgain = await page.locator('.quick-input-widget .quick-input-title', { hasText: 'tether: target of' }).waitFor({ timeout: 30000 }).then(() => true, () => false);
  await page.keyboard.press('Escape');
  check('after "Clear Target", F5 asks again', asksAgain);
}

/** Restart Daemon: a new daemon (another pid), and the next F5 works against it. */
async function restartDaemon() {
  const before = daemonPid();
  await command('tether: Restart Daemon');
  const restarted = await page.locator('.notification-toast', { hasText: 'tether: the daemon was restarted' }).first().waitFor({ timeout: 30000 }).then(() => true, () => false);
  const after = await eventually('another daemon pid', () => {
    const pid = daemonPid();
    return pid !== before ? pid : undefined;
  }, 15000).catch(() => before);
  check('"Restart Daemon" says so and the daemon has another pid', restarted && after !== before, `${before} -> ${after}`);
  await page.locator('.tabs-container .tab', { hasText: 'app.js' }).first().click();
  await page.locator('.monaco-editor .view-lines', { hasText: 'DEMO_GREETING' }).first().click();
  await page.keyboard.press('F5');
  await pickTarget();
  await page.locator('.quick-input-box input').fill(spec.filter);
  await quickPickRow(spec.target, 30000);
  await page.keyboard.press('Enter');
  await pausedFrame().first().waitFor({ timeout: 60000 });
  const sessions = sessionList();
  check('after the restart, F5 stops at the breakpoint with a session on the new daemon', sessions.length === 1 && daemonPid() === after, JSON.stringify(sessions));
  await page.keyboard.press('Shift+F5');
  await debugToolbar().waitFor({ state: 'hidden', timeout: 20000 });
  const ended = await eventually('session.list to be empty', () => (sessionList().length === 0 ? true : undefined), 15000).catch(() => false);
  check('stopping it ends the session on the new daemon', ended === true, JSON.stringify(sessionList()));
}

/** Cancel in the progress notification while the agent pod never reports: the launch ends. */
async function cancelledStart() {
  const before = agentPods();
  await command('Debug: Select and Start Debugging');
  await (await quickPickRow('app (silent agent)', 15000)).click();
  const toast = page.locator('.notification-toast', { hasText: `tether: ${spec.cancelTarget}` }).first();
  await toast.waitFor({ timeout: 30000 });
  // Cancel once the agent pod exists.
  const pending = await eventually('the agent pod', () => {
    const created = [...agentPods()].filter(([name]) => !before.has(name));
    return created.length ? created : undefined;
  }, 15000, 500).catch(() => []);
  await page.waitForTimeout(600); // the toast slides in
  await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
  await toast.waitFor({ state: 'hidden', timeout: 10000 });
  const cancelledAt = Date.now();
  await page.waitForTimeout(3000);
  check('Cancel in the progress notification starts no debug session', !(await debugToolbar().isVisible()));
  check('Cancel in the progress notification leaves no tether session', sessionList().length === 0, JSON.stringify(sessionList()));
  check('the cancelled launch\'s agent pod had been created', pending.length === 1, JSON.stringify(pending));
  if (pending.length !== 1) return;
  const [name] = pending[0];
  const stillThere = agentPods().has(name);
  console.log(`# ${name} ${stillThere ? 'is still there' : 'is gone'} 3 s after Cancel`);
  const gone = await eventually(`agent pod ${name} to be deleted`, () => (agentPods().has(name) ? undefined : true), spec.cancelPodTimeoutMs ?? 60000, 1000).catch(() => false);
  check(`the pending agent pod ${name} is deleted (${((Date.now() - cancelledAt) / 1000).toFixed(0)} s after Cancel)`, gone === true);
  check('no tether session came of the cancelled launch', sessionList().length === 0, JSON.stringify(sessionList()));
}

/** The extension's log lines (every "tether" output channel log file code-server wrote). */
function extensionLogLines() {
  const files = fs.readdirSync(spec.extensionLogs, { recursive: true }).map(String)
    .filter((file) => file.includes('tether-dev.tether') && file.endsWith('.log'));
  return files.flatMap((file) => fs.readFileSync(path.join(spec.extensionLogs, file), 'utf8').split('\n'));
}

/** A launch whose program listens on 0.0.0.0:PORT, which nothing in the target serves: the
 * daemon's warning, sent while the session runs, shows as a notification and is logged once. */
async function unservedListener() {
  const port = spec.unservedPort;
  const warning = `port ${port} is not intercepted: nothing in the target listens on it`;
  await command('Debug: Select and Start Debugging');
  await (await quickPickRow('app (unserved port)', 15000)).click();
  // This port's: in a remote window (code-server) js-debug probes a free port for the inspector
  // with a child process that listens on [::] and exits, which gets the same warning.
  const toast = page.locator('.notification-toast', { hasText: warning }).first();
  const shown = await toast.waitFor({ timeout: 60000 }).then(() => true, () => false);
  const text = shown ? await toast.innerText() : '';
  if (!shown) await shot('unserved-port');
  check(`a program listening on 0.0.0.0:${port}, which the target does not serve, gets the warning "tether: ${warning}…" as a notification`,
    shown && text.includes(`tether: ${warning}`), JSON.stringify(text));
  const sessions = sessionList();
  const logged = await eventually('the warning in the extension\'s log', () => {
    const lines = extensionLogLines().filter((line) => line.includes(`warning: ${warning}`));
    return lines.length ? lines : undefined;
  }, 15000).catch(() => []);
  await page.waitForTimeout(2000); // a second showing would have come by now
  const lines = extensionLogLines().filter((line) => line.includes(`warning: ${warning}`));
  check('the warning is written to the extension\'s log once, naming the session', lines.length === 1 && sessions.length === 1 && lines[0].includes(`session ${sessions[0].session_id} on `),
    JSON.stringify({ logged: logged.length, lines, sessions }));
  await page.keyboard.press('Shift+F5');
  await debugToolbar().waitFor({ state: 'hidden', timeout: 20000 });
  const ended = await eventually('session.list to be empty', () => (sessionList().length === 0 ? true : undefined), 15000).catch(() => false);
  check('stopping it ends its session', ended === true, JSON.stringify(sessionList()));
}

/** A launch whose own tether block names a process that does not exist: the daemon's typed error. */
async function typedFailure() {
  await command('Debug: Select and Start Debugging');
  await (await quickPickRow('app (gone target)', 15000)).click();
  const toast = page.locator('.notification-toast', { hasText: 'tether: target not found: no process with pid 4194000' }).first();
  const shown = await toast.waitFor({ timeout: 30000 }).then(() => true, () => false);
  const buttons = shown ? await toast.locator('.monaco-button').allInnerTexts() : [];
  check('a failed launch shows the daemon\'s typed message with "Show logs" and "Open config"', shown && buttons.includes('Show logs') && buttons.includes('Open config'), JSON.stringify(buttons));
  check('the failed launch starts no debug session', !(await debugToolbar().isVisible()));
  if (!shown) return;
  await shot('failure-notification');
  // The launch's progress notification closes under it (and moves it down): click after that.
  await page.locator('.notification-toast', { hasText: 'tether: pid/4194000' }).waitFor({ state: 'hidden', timeout: 10000 }).catch(() => undefined);
  await page.waitForTimeout(600);
  await toast.locator('.monaco-button', { hasText: 'Show logs' }).click();
  // The channel ends with what the daemon logged since; the extension's own line is above it.
  const logged = await page.locator('.output-view .view-lines', { hasText: 'end of the daemon log' }).first().waitFor({ timeout: 15000 }).then(() => true, () => false);
  const channel = await page.locator('.output-view, .panel').locator('select.monaco-select-box').first().inputValue().catch(() => '');
  if (!logged) await shot('show-logs');
  check('"Show logs" opens the tether output channel, the daemon log appended', logged, channel);
}

try {
  await page.goto(`${spec.url}/?folder=${encodeURIComponent(spec.workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });

  // -- turning tether on from the status bar
  await statusItem().waitFor({ timeout: 60000 });
  check('the status bar says tether is off in a new workspace', /tether: off/.test(await statusItem().innerText()));
  await statusItem().click();
  await eventually('"tether: on"', async () => /tether: on/.test(await statusItem().innerText()), 10000);
  check('clicking it turns tether on', true);

  // -- a breakpoint in the app
  await page.keyboard.press('Control+P');
  await page.locator('.quick-input-box input').fill('app.js');
  await quickPickRow('app.js', 15000);
  await page.keyboard.press('Enter');
  await page.locator('.monaco-editor .view-lines', { hasText: 'DEMO_GREETING' }).waitFor({ timeout: 20000 });
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-box input').fill(`:${spec.breakpointLine}`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('F9');
  await page.locator('.monaco-editor .codicon-debug-breakpoint').first().waitFor({ timeout: 10000 });
  check(`a breakpoint is set at app.js:${spec.breakpointLine}`, true);

  // -- F5: the picker, the target, the progress, the paused debugger
  await page.keyboard.press('F5');
  await pickTarget();
  const pickerShot = await shot('picker');
  await page.locator('.quick-input-box input').fill(spec.filter);
  await quickPickRow(spec.target, 30000);
  check(`F5 opens the target picker; typing "${spec.filter}" finds ${spec.target}`, true, pickerShot);
  const pickedAt = Date.now();
  await page.keyboard.press('Enter');
  let progressSeen = false;
  try {
    await page.locator('.notification-toast', { hasText: `tether: ${spec.target}` }).waitFor({ timeout: 3000 });
    progressSeen = true;
    await page.waitForTimeout(600); // the toast slides in
    const file = await shot('progress');
    console.log(`# progress notification: ${file}`);
  } catch {
    console.log(`# no progress notification seen (the session was ready within ${Date.now() - pickedAt} ms)`);
  }
  if (spec.expectProgress) check('a progress notification shows while the agent starts', progressSeen);
  await pausedFrame().first().waitFor({ timeout: spec.pauseTimeoutMs ?? 60000 });
  const pausedAfter = Date.now() - pickedAt;
  await page.locator('.debug-call-stack', { hasText: /paused on breakpoint/i }).first().waitFor({ timeout: 15000 }).catch(() => undefined);
  // The breakpoint's local variable holds the answer of the service only the target reaches.
  const answer = spec.expect.find((line) => line.startsWith('http=')).slice('http='.length);
  const variables = await eventually('the Variables view', async () => {
    const text = await page.locator('.debug-variables').first().innerText().catch(() => '');
    return text.includes(answer) ? text : undefined;
  }, 15000).catch(() => '');
  const pausedShot = await shot('paused');
  check(`the debugger stopped at the breakpoint (${pausedAfter} ms after the pick)`, true, pausedShot);
  check(`while paused, the Variables view shows answer = "${answer}"`, variables.includes(answer));

  let sessions = sessionList();
  const first = sessions[0];
  check(`session.list has the launch's session on ${spec.sessionTarget}`, sessions.length === 1 && first.target.startsWith(spec.sessionTarget), JSON.stringify(sessions));

  // -- restart: a fresh session on the warm agent
  await page.keyboard.press('Control+Shift+F5');
  await eventually('a new session after the restart', () => {
    const now = sessionList();
    return now.length === 1 && now[0].session_id !== first.session_id ? now : undefined;
  }, 60000);
  await pausedFrame().first().waitFor({ timeout: 60000 });
  sessions = sessionList();
  check('restart prepares a fresh session (one session, a new id) and stops at the breakpoint again', sessions.length === 1 && sessions[0].session_id !== first.session_id, `${first.session_id} -> ${sessions[0]?.session_id}`);

  // -- continue: the app's output in the Debug Console
  await page.keyboard.press('F5');
  const repl = page.locator('.repl .monaco-list-rows');
  const output = await eventually('the app output in the Debug Console', async () => {
    const text = await repl.first().innerText().catch(() => '');
    return spec.expect.every((line) => text.includes(line)) ? text : undefined;
  }, 30000).catch(async (err) => {
    console.log(`# Debug Console: ${JSON.stringify(await repl.first().innerText().catch(() => ''))}`);
    throw err;
  });
  for (const line of spec.expect) check(`the Debug Console shows "${line}"`, output.includes(line));

  // -- stop debugging: the session ends
  await page.keyboard.press('Shift+F5');
  await debugToolbar().waitFor({ state: 'hidden', timeout: 20000 });
  const ended = await eventually('session.list to be empty', () => (sessionList().length === 0 ? true : undefined), 15000).catch(() => false);
  check('after "stop debugging", session.list no longer has the session', ended === true, JSON.stringify(sessionList()));

  // -- Escape in the picker starts nothing
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('F5');
  await quickInput().waitFor({ state: 'visible', timeout: 30000 });
  await page.locator('.quick-input-widget .quick-input-title', { hasText: 'tether: target of' }).waitFor({ timeout: 10000 });
  const recentFirst = await quickRows().first().innerText();
  check(`the picker shows the most recent target first`, recentFirst.includes(spec.target), JSON.stringify(recentFirst));
  await page.keyboard.press('Escape');
  await quickInput().waitFor({ state: 'hidden', timeout: 10000 });
  await page.waitForTimeout(3000);
  check('Escape in the picker starts no debug session', !(await debugToolbar().isVisible()));
  check('Escape in the picker starts no tether session', sessionList().length === 0, JSON.stringify(sessionList()));

  if (spec.configChecks) await configDocument();
  if (spec.commandChecks) await selectedTargetAndSessions();
  if (spec.commandChecks) await restartDaemon();
  if (spec.cancelChecks) await cancelledStart();
  if (spec.failureChecks) await typedFailure();
  if (spec.unservedPort) await unservedListener();
} catch (err) {
  check('the end-to-end run completes', false, err instanceof Error ? err.message : String(err));
  const console_ = await page.locator('.repl .monaco-list-rows').first().innerText({ timeout: 2000 }).catch(() => '(not open)');
  console.log(`# Debug Console: ${JSON.stringify(console_)}`);
  try {
    const file = path.join(spec.artifacts, `${spec.shotPrefix}failure.png`);
    await page.screenshot({ path: file });
    console.log(`# screenshot of the failure: ${file}`);
  } catch {
    // The page is gone.
  }
} finally {
  await browser.close();
}
fs.mkdirSync(spec.artifacts, { recursive: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
