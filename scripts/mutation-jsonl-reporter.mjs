// A Stryker reporter that appends each mutant's result to a JSONL file as soon as it is tested.
// Stryker writes mutation.json only when a run ends, so a run cut by `timeout` (or by the end of
// a session) kept nothing; with this, it keeps every mutant it reached, which
// `npx tsx scripts/mutation-summary.ts run.jsonl` counts like a report. Enabled by stryker.config.mjs
// when COCA_MUTATION_JSONL names the file.
import fs from 'node:fs';
import { declareClassPlugin, PluginKind } from '@stryker-mutator/api/plugin';

class JsonlReporter {
  onMutantTested(r) {
    const line = {
      file: r.fileName,
      line: r.location.start.line,
      col: r.location.start.column,
      endLine: r.location.end.line,
      endCol: r.location.end.column,
      mutator: r.mutatorName,
      replacement: r.replacement,
      status: r.status,
      killedBy: r.killedBy,
    };
    fs.appendFileSync(process.env.COCA_MUTATION_JSONL, `${JSON.stringify(line)}\n`);
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'jsonl', JsonlReporter)];
