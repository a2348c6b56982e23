// Loaded into every test worker before its tests (package.json, ava.require). Once AVA is done with a
// worker, the worker exits at once rather than through Node's teardown of its environment. In a CI run
// on 2026-11-23 the worker of test/reliability/network.test.ts, every test passed and its after hook
// run, spun at 100% CPU for 10 minutes in node::Environment::CleanupHandles (gdb: FreeEnvironment ->
// RunCleanup -> uv_run, a request still counted as pending with nothing left in libuv), holding the
// whole run until it was killed; nodejs/node#47748 reports the same kind of hang at exit in Node 16-20.
// A test file's own teardown (servers, temp dirs) runs in its hooks, before this.

import { registerCompletionHandler } from 'ava';

registerCompletionHandler(() => process.exit());
