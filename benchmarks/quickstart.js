'use strict';
// Times the README quick start on a fresh clone of the committed HEAD:
//   git clone . <tmp> && cd <tmp> && npm ci && npx qnn-native quantize
// and writes benchmarks/results/quickstart.json. The npm cache is whatever this machine has
// (as on CI, which runs on the submitting machine). QNN_CUDA=OFF is honoured if set.
//   node benchmarks/quickstart.js
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

function timed(label, cmd, args, cwd) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, maxBuffer: 256 * 2 ** 20 });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout}\n${r.stderr}\n`);
    throw new Error(`${label} failed (status ${r.status})`);
  }
  process.stderr.write(`${label}: ${seconds.toFixed(1)} s\n`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qnn-quickstart-'));
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    execFileSync('git', ['clone', '--quiet', root, dir]);
    const install = timed('npm ci', 'npm', ['ci', '--no-audit', '--no-fund'], dir);
    const quantize = timed('npx qnn-native quantize', 'npx', ['qnn-native', 'quantize'], dir);
    const metrics = JSON.parse(fs.readFileSync(path.join(dir, 'qnn-out', 'metrics.json'), 'utf8'));
    const backends = JSON.parse(timed('npx qnn-native backends --json', 'npx', ['qnn-native', 'backends', '--json'], dir).stdout);
    const result = {
      commit: head,
      createdAt: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), loadAverageAtEnd: os.loadavg() },
      native: backends.build.native,
      npmCiSeconds: install.seconds,
      quantizeSeconds: quantize.seconds,
      totalSeconds: install.seconds + quantize.seconds,
      accuracy: metrics.accuracy,
      table: quantize.stdout.trim(),
    };
    const out = path.join(__dirname, 'results', 'quickstart.json');
    fs.writeFileSync(`${out}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    fs.renameSync(`${out}.tmp`, out);
    process.stdout.write(`npm ci ${install.seconds.toFixed(1)} s + npx qnn-native quantize ${quantize.seconds.toFixed(1)} s = ${result.totalSeconds.toFixed(1)} s\n${result.table}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
