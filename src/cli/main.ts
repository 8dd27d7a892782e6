/**
 * The `qnn-native` command line (yargs). Every module in ./commands exports a CommandModule as
 * default. Errors are QnnErrors printed as `error [CODE]: message` with exit code 1 (2 for usage).
 */
import * as fs from 'fs';
import * as path from 'path';
import yargs, { CommandModule } from 'yargs';

import { QnnError, toQnnError } from '../errors';

function loadCommands(): CommandModule[] {
  const dir = path.join(__dirname, 'commands');
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    .map((f) => (require(path.join(dir, f)) as { default: CommandModule }).default)
    .filter((c) => c && typeof c === 'object' && 'command' in c);
}

export function reportError(e: unknown): number {
  const err = toQnnError(e);
  process.stderr.write(`error [${err.code}]: ${err.message}\n`);
  if (process.env.QNN_DEBUG && err.stack) process.stderr.write(`${err.stack}\n`);
  return err.code === 'QNN_E_ABORTED' ? 130 : 1;
}

export async function main(argv: string[]): Promise<number> {
  let usageError: string | undefined;
  const parser = yargs(argv)
    .scriptName('qnn-native')
    .usage('$0 <command> [options]\n\nPost-training quantization (GPFQ, MSQ and more) for TensorFlow.js models.')
    .option('quiet', { type: 'boolean', default: false, describe: 'No progress output on stderr' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object on stdout (for scripts)' })
    .strict()
    .demandCommand(1, 'Choose a command (see --help)')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  for (const c of loadCommands()) parser.command(c);
  try {
    await parser.parseAsync();
  } catch (e) {
    return reportError(e);
  }
  if (usageError) {
    process.stderr.write(`error [QNN_E_USAGE]: ${usageError}\nRun \`qnn-native --help\` for usage.\n`);
    return 2;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.exitCode = reportError(e instanceof QnnError ? e : toQnnError(e));
    },
  );
}
