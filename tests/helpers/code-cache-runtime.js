/**
 * Jest's module runtime, with each module's compiled code shared by the test files of a worker process.
 *
 * Jest gives every test file its own module registry, so each file compiles again every module it loads (about 1,000
 * for a harness file, 4.5 MB): V8 compiling them was about 0.3 s of CPU per file, the largest single cost of the suite.
 * The runtime compiles each module with `vm.compileFunction`, which V8 never caches. Here the same wrapper function
 * is compiled as a `vm.Script` instead, with the module on the same lines, and run in the test file's context: V8's
 * own compilation cache then gives a later file the code already compiled for the same file name and source, the
 * functions compiled on first call included. The last Script of each file is kept so its cache entry stays alive.
 * Each file still gets fresh module instances in its own context, and its own dynamic-import callback.
 * Hand-written because the compile-cache libraries hook Node's own `require`, which jest does not use.
 */
const fs = require('node:fs');
const vm = require('node:vm');

const compile = vm.compileFunction;
/**
 * file name → the last Script compiled for it (kept alive so V8's compilation cache keeps it), with the module code and
 * the wrapped source it was compiled from. A later file whose code is the same string reuses that source string, so
 * the 4.5 MB of a harness file's modules is not concatenated and hashed again (V8 keeps a string's hash in it).
 */
const scripts = new Map();

vm.compileFunction = function compileAsScript(code, params = [], options = {}) {
  const { filename, parsingContext, importModuleDynamically } = options;
  if (!filename || !parsingContext || options.cachedData || options.produceCachedData || options.contextExtensions?.length) {
    return compile.call(this, code, params, options);
  }
  const head = params.join(', ');
  const last = scripts.get(filename);
  // The wrapper's first line is line 0, so the module's own lines and columns are what stack traces show.
  const source = last && last.code === code && last.head === head ? last.source : `(function (${head}) {\n${code}\n})`;
  const script = new vm.Script(source, { filename, lineOffset: -1, importModuleDynamically });
  scripts.set(filename, { code, head, source, script });
  return script.runInContext(parsingContext);
};

// The runtime jest would load itself (jest-runner requires it from its own place).
const jestRuntime = require(require.resolve('jest-runtime', { paths: [require.resolve('jest-runner')] }));

/**
 * filename + transform options → { mtimeMs, size, file: jest's transform result }, for every test file of this worker.
 * Jest reads each module's source again for every test file, then hashes it and reads ts-jest's cached output from
 * disk (its cache is keyed by the source's digest): about 90 ms of CPU per harness file, and a new 4.5 MB of strings
 * each time for the garbage collector. The same string also lets V8's compilation cache above find its entry without
 * hashing the source again. A file changed since (its mtime or size) is read and transformed afresh.
 */
const transforms = new Map();

/**
 * A stand-in for the `jest` object jest passes to every module it runs: the object is built (about 60 functions) at the
 * first use of the stand-in, which an installed package never makes. Building one for each of a harness file's ~800
 * installed modules cost ~5 ms of CPU and 3 MB a file.
 */
function builtOnUse(build) {
  let built = null;
  const real = () => (built ??= build());
  return new Proxy(
    {},
    {
      get: (_, key) => Reflect.get(real(), key),
      set: (_, key, value) => Reflect.set(real(), key, value),
      has: (_, key) => Reflect.has(real(), key),
      ownKeys: () => Reflect.ownKeys(real()),
      // Reported configurable: the empty target has none of these properties, and a proxy may not say otherwise.
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(real(), key);
        return d && { ...d, configurable: true };
      },
      defineProperty: (_, key, d) => Reflect.defineProperty(real(), key, d),
      deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
      getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    },
  );
}

class SharedTransformRuntime extends jestRuntime.default {
  /**
   * Hooks and test functions running now. jest-circus tells the runtime "between tests" as soon as any test function
   * ends, and the runtime then refuses every require and import: with it.concurrent, a test still running after
   * another had ended failed its first lazy load (a command's module at its first call, so a harness request answered
   * 500). The file is between tests only when none of them runs; code that outlives its test is still refused then.
   */
  runningTestCode = 0;

  enterTestCode() {
    this.runningTestCode += 1;
    super.enterTestCode();
  }

  leaveTestCode() {
    this.runningTestCode = Math.max(0, this.runningTestCode - 1);
    if (this.runningTestCode === 0) super.leaveTestCode();
  }

  constructor(...args) {
    super(...args);
    const globals = this.jestGlobals;
    const jestObjectFor = globals.jestObjectFor.bind(globals);
    globals.jestObjectFor = (from) => (from.includes('/node_modules/') ? builtOnUse(() => jestObjectFor(from)) : jestObjectFor(from));
    // A project's transforms are part of the key: projects whose transforms are the same share entries, and one with
    // its own (another preset, other ts-jest options) never gets another's output.
    const transformKey = JSON.stringify(this._config.transform ?? null);
    const cache = this.transformCache;
    const transform = cache.transform.bind(cache);
    cache.transform = (filename, options) => {
      if (options?.isInternalModule) return transform(filename, options);
      const key = `${filename}\0${transformKey}\0${JSON.stringify(options ?? null)}`;
      const hit = transforms.get(key);
      // An installed package is taken as unchanged for the worker's life (npm does not run beside jest): about 800 of a
      // harness file's modules, whose stat calls cost ~12 ms of CPU a file. The project's own files are checked.
      const installed = filename.includes('/node_modules/');
      let stat;
      try {
        stat = installed && hit ? hit : fs.statSync(filename);
      } catch {
        return transform(filename, options);
      }
      if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) {
        // What TransformCache.transform records, so source maps and coverage see the file as transformed here.
        cache.transforms.set(filename, hit.file);
        if (hit.file.sourceMapPath) cache.sourceMaps.set(filename, hit.file.sourceMapPath);
        return hit.file.code;
      }
      const code = transform(filename, options);
      const file = cache.transforms.get(filename);
      if (file?.code === code) transforms.set(key, { mtimeMs: stat.mtimeMs, size: stat.size, file });
      return code;
    };
  }
}

// jest-runner takes `.default` of an ES module's exports (`__esModule`, which a spread would not copy).
module.exports = Object.defineProperty({ ...jestRuntime, default: SharedTransformRuntime }, '__esModule', { value: true });
