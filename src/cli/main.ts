// The `coca` command: one yargs module per subcommand in this folder.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { failureLines } from './failure.ts';
import { benchCommand } from './bench.ts';
import { evalCommand } from './eval.ts';
import { infoCommand } from './info.ts';
import { trainCommand } from './train.ts';
import { dataCommand } from './data.ts';
import { captionCommand } from './caption.ts';
import { retrieveCommand } from './retrieve.ts';
import { indexCommand } from './index.ts';
import { classifyCommand } from './classify.ts';
import { serveCommand } from './serve.ts';
import { compareCommand } from './compare.ts';
import { exportCommand, importCommand } from './interop.ts';

function reportAndExit(err: unknown): never {
  for (const line of failureLines(err)) console.error(line);
  process.exit(1);
}

// A failure outside the awaited command (a callback, a listener) is reported the same way.
process.on('uncaughtException', reportAndExit);
process.on('unhandledRejection', reportAndExit);

// `coca ... | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

try {
  await yargs(hideBin(process.argv))
    .scriptName('coca')
    .usage('$0 <command> [options]\n\nA CoCa-style contrastive captioner on a hand-written WebGPU core.')
    .command(infoCommand)
    .command(benchCommand)
    .command(trainCommand)
    .command(evalCommand)
    .command(dataCommand)
    .command(captionCommand)
    .command(retrieveCommand)
    .command(indexCommand)
    .command(classifyCommand)
    .command(serveCommand)
    .command(compareCommand)
    .command(importCommand)
    .command(exportCommand)
    .demandCommand(1, 'Name a command (see the list above).')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err, y) => {
      if (err) reportAndExit(err);
      y.showHelp();
      console.error(`\ncoca: ${msg}`);
      process.exit(2);
    })
    .parseAsync();
} catch (e) {
  reportAndExit(e);
}
