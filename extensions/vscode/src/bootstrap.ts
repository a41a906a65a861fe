// Finding the `tether` executable (pure apart from the file checks it is given): the
// `tether.path` setting, else `tether` on PATH, else the binary bundled in the .vsix.

import * as path from 'node:path';

export interface Found {
  path: string;
  /** Where it came from, for the logs and error messages. */
  from: 'setting' | 'PATH' | 'bundled';
}

/**
 * The executable to run as `tether lsp`. `isExecutable` is asked about candidate files;
 * `searchPath` is the `PATH` value; `bundled` is the extension's `bin/tether`.
 */
export function findTether(
  setting: string | undefined,
  searchPath: string | undefined,
  bundled: string,
  isExecutable: (file: string) => boolean,
): Found | { error: string } {
  if (setting && setting.trim() !== '') {
    const file = setting.trim();
    return isExecutable(file)
      ? { path: file, from: 'setting' }
      : { error: `tether.path is ${file}, which is not an executable file; fix the setting or clear it` };
  }
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, 'tether');
    if (isExecutable(file)) return { path: file, from: 'PATH' };
  }
  if (isExecutable(bundled)) return { path: bundled, from: 'bundled' };
  return {
    error: 'cannot find tether: set tether.path to the tether executable, or put tether on PATH (this extension bundles none)',
  };
}
