import fs from 'node:fs';

/**
 * The files a test file's module registry has loaded so far, found by walking `module.children` from the test
 * file's own module (jest gives each test file its own registry, so this is what that file paid to load).
 */
export function loadedModules(root: NodeJS.Module): string[] {
  const seen = new Set<string>();
  const walk = (m: NodeJS.Module): void => {
    if (seen.has(m.filename)) return;
    seen.add(m.filename);
    for (const child of m.children ?? []) walk(child);
  };
  walk(root);
  return [...seen];
}

/** The preload that makes a built process write the files it loaded at exit (see the file). */
export const LOADED_FILES_AT_EXIT = require.resolve('./loaded-files-at-exit.js');

/** Which of `names` (package names, or paths from dist/ on) a built process that wrote `file` at exit had loaded. */
export function loadedOf(file: string, names: string[]): string[] {
  const loaded = JSON.parse(fs.readFileSync(file, 'utf8')) as string[];
  const matches = (name: string) => (f: string) => (name.startsWith('dist/') ? f.endsWith(`/${name}`) : f.includes(`/node_modules/${name}/`));
  return names.filter((name) => loaded.some(matches(name)));
}
