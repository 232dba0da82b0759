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
