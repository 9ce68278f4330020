// The line-per-record JSON files of a run (log.jsonl, val.jsonl): read by the trainer on resume
// and by `coca compare`.
import fs from 'node:fs';

/**
 * The records of a JSONL file; none when the file does not exist yet. A last line without its
 * newline is a record a killed process was appending: it is left out, not an error.
 */
export function readJsonl<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const torn = lines.pop();
  const records = lines.filter(Boolean).map((l) => JSON.parse(l) as T);
  if (torn) {
    try {
      records.push(JSON.parse(torn) as T);
    } catch {
      // cut off mid-line
    }
  }
  return records;
}
