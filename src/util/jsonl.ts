// The line-per-record JSON files of a run (log.jsonl, val.jsonl): read by the trainer on resume
// and by `coca compare`.
import fs from 'node:fs';

/** The records of a JSONL file; none when the file does not exist yet. */
export function readJsonl<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
