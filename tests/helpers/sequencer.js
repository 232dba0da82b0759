/**
 * Jest's order for the whole run: longest files first, from the committed durations in tests/durations.json, so the
 * last files to start are short ones and both workers finish together. Jest's own sequencer does this only from its
 * cache (absent on a fresh machine, and skewed by whatever ran last), falling back to file size, which put the
 * slowest files (a 2-minute browser test) last. Files that failed last run still go first; a file missing from the
 * list (new) is treated as long, so it starts early.
 *
 * `UPDATE_TEST_DURATIONS=1 npx jest ...` rewrites the list from the run (every project, whole suite, quiet machine).
 */
const fs = require('node:fs');
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const LIST = path.join(__dirname, '..', 'durations.json');
const UNKNOWN = 1e6;

function readList() {
  try {
    return JSON.parse(fs.readFileSync(LIST, 'utf8'));
  } catch {
    return {};
  }
}

/** The list's key for a test: its project's name and its path from the root. */
function key(test) {
  const { config } = test.context;
  return [config.displayName?.name ?? 'default', path.relative(config.rootDir, test.path).split(path.sep).join('/')];
}

class DurationSequencer extends Sequencer {
  list = readList();

  sort(tests) {
    const seconds = (t) => {
      const [project, file] = key(t);
      return this.list[project]?.[file] ?? UNKNOWN;
    };
    // Files without a duration, among themselves, go by size as jest's own sequencer does.
    const size = (t) => t.context.hasteFS.getSize(t.path) ?? 0;
    return [...tests].sort((a, b) => Number(this.hasFailed(b)) - Number(this.hasFailed(a)) || seconds(b) - seconds(a) || size(b) - size(a));
  }

  cacheResults(tests, results) {
    super.cacheResults(tests, results);
    if (!process.env.UPDATE_TEST_DURATIONS) return;
    const rootDir = tests[0]?.context.config.rootDir ?? process.cwd();
    const next = readList();
    for (const r of results.testResults) {
      if (r.skipped || r.testExecError) continue;
      const project = r.displayName?.name ?? 'default';
      const file = path.relative(rootDir, r.testFilePath).split(path.sep).join('/');
      next[project] ??= {};
      next[project][file] = Math.round((r.perfStats.end - r.perfStats.start) / 100) / 10;
    }
    const sorted = Object.fromEntries(
      Object.keys(next)
        .sort()
        .map((p) => [p, Object.fromEntries(Object.entries(next[p]).sort(([a], [b]) => a.localeCompare(b)))]),
    );
    fs.writeFileSync(LIST, `${JSON.stringify(sorted, null, 2)}\n`);
  }
}

module.exports = DurationSequencer;
