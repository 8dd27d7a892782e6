'use strict';
// `npm run bench [-- <name> ...] [--quick]`: runs the benchmark scripts in this folder (default: all),
// each writing JSON to benchmarks/results/ and printing Markdown tables.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const names = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const all = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && !['run.js', 'common.js'].includes(f))
  .map((f) => f.replace(/\.js$/, ''));
let status = 0;
for (const name of names.length ? names : all) {
  if (!all.includes(name)) {
    process.stderr.write(`unknown benchmark '${name}' (have: ${all.join(', ')})\n`);
    process.exit(2);
  }
  process.stderr.write(`\n== ${name}\n`);
  const r = spawnSync(process.execPath, [path.join(__dirname, `${name}.js`), ...flags], { stdio: 'inherit' });
  // Exit status 3: the benchmark cannot run on this machine (cuda.js without a GPU); a failure
  // only when it was asked for by name.
  if (r.status === 3 && !names.length) process.stderr.write(`(${name} skipped: see the message above)
`);
  else if (r.status !== 0) status = 1;
}
process.exitCode = status;
