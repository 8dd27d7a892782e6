'use strict';
// Shared helpers for experiment scripts: compiled package, result files with their command line.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  process.stderr.write('experiments need the compiled package: run `npm run build` first\n');
  process.exit(1);
}
const req = (p) => require(path.join(root, 'dist', p));

function writeResult(name, data, markdown) {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const command = `node experiments/${process.argv.slice(1).map((a) => path.basename(a)).join(' ')}`;
  const payload = { command, createdAt: new Date().toISOString(), ...data };
  for (const [file, text] of [[`${name}.json`, `${JSON.stringify(payload, null, 2)}\n`], [`${name}.md`, `<!-- ${command} -->\n${markdown}\n`]]) {
    fs.writeFileSync(path.join(dir, `${file}.tmp`), text);
    fs.renameSync(path.join(dir, `${file}.tmp`), path.join(dir, file));
  }
  process.stderr.write(`wrote experiments/results/${name}.{json,md}\n`);
}

function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

const pct = (v) => (v === undefined ? '' : (100 * v).toFixed(2));

module.exports = { root, req, writeResult, table, pct };
