#!/usr/bin/env node
'use strict';
// Builds the native addon at install time and never fails the install because of it.
//
// Order: QNN_NATIVE=0 skips the build; otherwise cmake-js (CMakeLists.txt, CUDA when nvcc is
// found), then node-gyp (binding.gyp, CPU only), then one warning and the pure-TS backend.
// QNN_REQUIRE_NATIVE=1 turns the fallback into a failed install that names every cause.
// The full build logs go to build/install-*.log so the console stays short.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const logDir = path.join(root, 'build');

function log(msg) {
  process.stderr.write(`qnn-native: ${msg}\n`);
}

function resolveBin(pkg, bin) {
  try {
    const pj = require.resolve(`${pkg}/package.json`, { paths: [root] });
    const meta = JSON.parse(fs.readFileSync(pj, 'utf8'));
    const rel = typeof meta.bin === 'string' ? meta.bin : meta.bin[bin];
    return path.join(path.dirname(pj), rel);
  } catch {
    return null;
  }
}

function run(name, args) {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `install-${name}.log`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout || ''}${r.stderr || ''}${r.error ? String(r.error) : ''}`;
  fs.writeFileSync(logFile, out);
  const ok = r.status === 0;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (ok) log(`${name} build finished in ${secs} s (log: ${path.relative(root, logFile)})`);
  return { ok, out, logFile };
}

function tail(text, n) {
  return text.trim().split('\n').slice(-n).join('\n');
}

function checkLoads() {
  // Load the built addon in a child process so a broken binary cannot crash the installer.
  const addon = path.join(root, 'build', 'Release', 'qnn_native.node');
  if (!fs.existsSync(addon)) return { ok: false, why: `${addon} was not produced` };
  const r = spawnSync(
    process.execPath,
    ['-e', `const a=require(${JSON.stringify(addon)}); process.stdout.write(JSON.stringify(a.buildInfo()))`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return { ok: false, why: tail(r.stderr || '', 5) };
  return { ok: true, info: r.stdout };
}

function main() {
  if (process.env.QNN_NATIVE === '0') {
    log('QNN_NATIVE=0: skipping the native build; the pure-TS backend will be used.');
    return 0;
  }
  const failures = [];
  const cmakeJs = resolveBin('cmake-js', 'cmake-js');
  if (cmakeJs) {
    const r = run('cmake-js', [cmakeJs, 'compile', '--log-level', 'warn']);
    if (r.ok) {
      const c = checkLoads();
      if (c.ok) {
        log(`native addon ready: ${c.info}`);
        return 0;
      }
      failures.push(`cmake-js built an addon that does not load: ${c.why}`);
    } else {
      failures.push(`cmake-js failed (see ${r.logFile}):\n${tail(r.out, 8)}`);
    }
  } else {
    failures.push('cmake-js is not installed');
  }

  // node-gyp from node_modules, else the copy npm ships (npm exposes its path to scripts).
  const nodeGyp = resolveBin('node-gyp', 'node-gyp') || process.env.npm_config_node_gyp || null;
  if (nodeGyp) {
    const args = [nodeGyp, 'rebuild'];
    // node-gyp downloads headers unless it is given a node directory that has them.
    const nodedir = path.resolve(path.dirname(process.execPath), '..');
    if (fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
    const r = run('node-gyp', args);
    if (r.ok) {
      const c = checkLoads();
      if (c.ok) {
        log(`native addon (node-gyp, CPU only) ready: ${c.info}`);
        return 0;
      }
      failures.push(`node-gyp built an addon that does not load: ${c.why}`);
    } else {
      failures.push(`node-gyp failed (see ${r.logFile}):\n${tail(r.out, 8)}`);
    }
  } else {
    failures.push('node-gyp is not installed');
  }

  const msg =
    'the native addon could not be built; qnn-native will use its pure-TypeScript backend ' +
    '(same results, much slower).\n' +
    failures.map((f) => `  - ${f.replace(/\n/g, '\n    ')}`).join('\n') +
    '\n  Fix: install a C++17 compiler and CMake >= 3.18, then run `npm rebuild qnn-native`.';
  if (process.env.QNN_REQUIRE_NATIVE === '1') {
    log(`ERROR (QNN_REQUIRE_NATIVE=1): ${msg}`);
    return 1;
  }
  log(`WARNING: ${msg}`);
  return 0;
}

process.exitCode = main();
