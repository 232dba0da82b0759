/**
 * Jest's module runtime, with V8's code cache kept per worker process across test files.
 *
 * Jest gives every test file its own module registry, so each file compiles again every module it loads (about 1,000
 * for a harness file, 4.5 MB): V8 compiling them was about 0.3 s of CPU per file, the largest single cost of the suite.
 * The runtime compiles each module with `vm.compileFunction`; here the first compile of a module in a worker keeps
 * V8's code cache for it, and later files compile that module from the cache instead of parsing it again. A cache is
 * used only for the same file name, wrapper parameters and exact source text (V8 itself checks only the source's
 * length); one V8 rejects just compiles from source. Each file still gets fresh module instances in its own context.
 * Hand-written because the compile-cache libraries hook Node's own `require`, which jest does not use.
 */
const vm = require('node:vm');

const compile = vm.compileFunction;
/** file name → the source and parameters it was compiled with, and V8's cache for them. */
const caches = new Map();

vm.compileFunction = function compileWithCodeCache(code, params, options) {
  if (!options?.filename || options.cachedData || options.produceCachedData) return compile.call(this, code, params, options);
  const wrapper = String(params);
  const known = caches.get(options.filename);
  if (known && known.code === code && known.wrapper === wrapper) {
    const fn = compile.call(this, code, params, { ...options, cachedData: known.data });
    if (fn.cachedDataRejected) caches.delete(options.filename);
    return fn;
  }
  const fn = compile.call(this, code, params, { ...options, produceCachedData: true });
  if (fn.cachedDataProduced) caches.set(options.filename, { code, wrapper, data: fn.cachedData });
  return fn;
};

// The runtime jest would load itself (jest-runner requires it from its own place).
module.exports = require(require.resolve('jest-runtime', { paths: [require.resolve('jest-runner')] }));
