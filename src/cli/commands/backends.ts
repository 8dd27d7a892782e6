/** `qnn-native backends`: which engine backends and which TF.js backend are active, and why. */
import type { CommandModule } from 'yargs';

import { backends, buildInfo } from '../../engine/backend';
import { getTf, tfRuntimeInfo } from '../../tf/runtime';

interface Args {
  json: boolean;
  quiet: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'backends',
  describe: 'Show the available quantization backends (native CPU, CUDA, TypeScript) and the TF.js backend',
  handler: async (argv) => {
    const list = backends();
    const info = buildInfo();
    let tf: ReturnType<typeof tfRuntimeInfo> | { error: string };
    try {
      await getTf();
      tf = tfRuntimeInfo();
    } catch (e) {
      tf = { error: (e as Error).message };
    }
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({ backends: list, build: info, tfjs: tf }, null, 2)}\n`);
      return;
    }
    const lines = [`qnn-native ${info.version} (node ${info.node}, ${info.platform}-${info.arch})`, '', 'Quantization backends:'];
    for (const b of list) {
      const state = b.available ? 'available' : 'unavailable';
      const extra = Object.entries(b.details)
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      lines.push(`  ${b.name.padEnd(7)} ${state.padEnd(12)}${b.reason ? ` ${b.reason}` : ''}${extra ? ` (${extra})` : ''}`);
    }
    if (info.native) {
      const n = info.native;
      lines.push('', `Native build: ${n.buildSystem} ${n.buildType}, ${n.compiler}, kernel ${n.cpuKernel}, OpenMP ${n.openmp ? 'on' : 'off'}, CUDA ${n.cudaCompiled ? 'compiled' : 'not compiled'}, ${n.defaultThreads} threads`);
    }
    if ('error' in (tf ?? {})) lines.push('', `TF.js: failed to initialise: ${(tf as { error: string }).error}`);
    else if (tf) lines.push('', `TF.js: backend '${(tf as { backend: string }).backend}' from ${(tf as { package: string }).package} ${(tf as { version: string }).version} — ${(tf as { reason: string }).reason}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};

export default command;
