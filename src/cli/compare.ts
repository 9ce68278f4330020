// `coca compare`: several training runs side by side — a table of final losses and eval metrics
// (mean ± sd over the seeds of each group) and their loss curves overlaid in one page.
import fs from 'node:fs';
import type { Argv } from 'yargs';
import { checkOutputFile } from '../util/outdir.ts';
import { againstReference, CompareError, markdownTable, readRun, summarise, writeComparison, writeComparisonSvg } from '../eval/compare.ts';

interface CompareArgs {
  runs?: string[];
  out?: string;
  svg?: string;
  smooth: number;
  json: boolean;
  against?: string;
}

export const compareCommand = {
  command: 'compare <runs..>',
  describe: 'Compare training runs: final losses and eval metrics (mean ± sd per group of seeds), loss curves overlaid',
  builder: (y: Argv) =>
    y
      .positional('runs', { type: 'string', array: true, describe: 'run folders (coca train or coca_torch.py --train); names ending in -s<seed> are grouped' })
      .option('out', { type: 'string', describe: 'write an HTML page with the table and the overlaid curves' })
      .option('svg', { type: 'string', describe: 'write the training curves (three losses, logit scale) as one SVG picture' })
      .option('smooth', { type: 'number', default: 25, describe: 'moving-average window of the plotted losses, in steps' })
      .option('against', { type: 'string', describe: 'also test every other group against this group\'s seed-to-seed spread (within 2 sd)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the group statistics as JSON instead of a table' })
      .example('coca compare runs/ablation/* --out runs/ablation/compare.html', 'an ablation over seeds in one table and one page')
      .example('coca compare runs/parity/nano-* --against nano-torch', 'are coca\'s metrics within PyTorch\'s own seed spread?'),
  handler: (a: CompareArgs) => {
    if (!Number.isInteger(a.smooth) || a.smooth < 1) throw new CompareError(`--smooth must be a whole number of steps ≥ 1, got ${a.smooth}`);
    // A glob such as runs/ablation/* also names last time's page: only folders are runs.
    const folders = (a.runs ?? []).filter((d) => fs.statSync(d, { throwIfNoEntry: false })?.isDirectory() ?? true);
    for (const [option, file] of [['--out', a.out], ['--svg', a.svg]] as const) if (file) checkOutputFile(file, { option, inputs: folders });
    const runs = folders.map(readRun);
    if (runs.length === 0) throw new CompareError('no run folders given; pass the folders written by coca train');
    const groups = summarise(runs);
    console.log(a.json ? JSON.stringify(groups, null, 2) : markdownTable(groups));
    if (a.against) console.log(`\n${againstReference(groups, a.against)}`);
    if (a.out) {
      writeComparison(a.out, runs, a.smooth);
      console.error(`wrote ${a.out}`);
    }
    if (a.svg) {
      writeComparisonSvg(a.svg, runs, a.smooth);
      console.error(`wrote ${a.svg}`);
    }
  },
};
