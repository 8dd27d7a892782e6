#!/usr/bin/env node
'use strict';
// `npm test`: every suite, in order, with one summary line at the end.
//   1. types   tsc over src/ (emitting dist/, which the CLI tests run) and --noEmit over test/
//   2. native  the C++ core without Node (CMake + ctest, build-test/)
//   3. jest    the whole TypeScript suite against the built addon
//   4. ts-only the engine suites again with QNN_NATIVE=0, so the pure-TS fallback stays honest
// Options: --only <types|native|jest|ts-only> (repeatable). A suite that cannot run is a failure,
// never a silent skip.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const only = [];
for (let i = 0; i < args.length; i++) if (args[i] === '--only') only.push(args[++i]);
const want = (s) => only.length === 0 || only.includes(s);

const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];

function run(cmd, argv, opts = {}) {
  process.stderr.write(`\n$ ${cmd} ${argv.join(' ')}\n`);
  return spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts, env: { ...process.env, ...(opts.env || {}) } });
}

function record(name, passed, failed, skipped = 0, note = '') {
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  lines.push(`  ${name.padEnd(8)} ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${note ? ` (${note})` : ''}`);
}

function bin(pkg, name) {
  return path.join(root, 'node_modules', '.bin', name || pkg);
}

if (want('types')) {
  const build = run(bin('tsc'), ['-p', 'tsconfig.build.json']);
  const all = run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
  const ok = [build, all].filter((r) => r.status === 0).length;
  record('types', ok, 2 - ok);
}

if (want('native')) {
  const dir = path.join(root, 'build-test');
  const gen = spawnSync('ninja', ['--version']).status === 0 ? ['-G', 'Ninja'] : [];
  const cfg = run('cmake', ['-S', '.', '-B', dir, ...gen, '-DQNN_BUILD_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const build = cfg.status === 0 ? run('cmake', ['--build', dir, '-j', String(os.availableParallelism())]) : cfg;
  if (build.status !== 0) {
    record('native', 0, 1, 0, 'CMake configure/build failed (needs CMake >= 3.18 and a C++17 compiler)');
  } else {
    const r = spawnSync(path.join(dir, 'qnn_core_tests'), [], { cwd: root, encoding: 'utf8' });
    process.stderr.write(r.stdout || '');
    process.stderr.write(r.stderr || '');
    const m = /qnn_core_tests: (\d+) passed, (\d+) failed/.exec(r.stdout || '');
    if (m) record('native', Number(m[1]), Number(m[2]) + (r.status !== 0 && Number(m[2]) === 0 ? 1 : 0));
    else record('native', 0, 1, 0, `qnn_core_tests did not finish (status ${r.status}, signal ${r.signal})`);
  }
}

function jest(name, argv, env) {
  const out = path.join(os.tmpdir(), `qnn-jest-${process.pid}-${name}.json`);
  const r = run(process.execPath, [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--json', `--outputFile=${out}`, ...argv], { env });
  let res;
  try {
    res = JSON.parse(fs.readFileSync(out, 'utf8'));
    fs.unlinkSync(out);
  } catch {
    record(name, 0, 1, 0, `jest produced no results (status ${r.status}, signal ${r.signal})`);
    return;
  }
  const skipped = res.numPendingTests + res.numTodoTests;
  const crashed = res.numRuntimeErrorTestSuites;
  record(name, res.numPassedTests, res.numFailedTests + crashed, skipped, crashed ? `${crashed} suite(s) failed to run` : '');
}

if (want('jest')) jest('jest', []);
if (want('ts-only')) jest('ts-only', ['test/engine'], { QNN_NATIVE: '0', QNN_REQUIRE_NATIVE: '' });

process.stdout.write(`\nqnn-native test summary:\n${lines.join('\n')}\n`);
process.stdout.write(`tests: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}\n`);
process.exitCode = totals.failed === 0 ? 0 : 1;
