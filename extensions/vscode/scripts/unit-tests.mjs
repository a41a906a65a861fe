// Runs the unit tests: each test/unit/*.test.ts bundled by esbuild into out/unit/, then node's
// test runner over them. The pure modules they test import nothing of vscode.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tests = fs.readdirSync(path.join(root, 'test/unit')).filter((name) => name.endsWith('.test.ts'));
fs.rmSync(path.join(root, 'out/unit'), { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: tests.map((name) => `test/unit/${name}`),
  outdir: 'out/unit',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode'],
  packages: 'external',
  logLevel: 'warning',
});
const files = tests.map((name) => path.join('out/unit', name.replace(/\.ts$/, '.cjs')));
// TETHER_UNIT_TAP=FILE also writes a TAP report there (test/run reads its totals).
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout'];
if (process.env.TETHER_UNIT_TAP) reporters.push('--test-reporter=tap', `--test-reporter-destination=${process.env.TETHER_UNIT_TAP}`);
const run = spawnSync(process.execPath, ['--test', ...reporters, ...files], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
