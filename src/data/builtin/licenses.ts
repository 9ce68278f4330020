// LICENSES.md beside a built dataset: whoever copies the folder copies the attributions with it.
import fs from 'node:fs';
import path from 'node:path';
import type { SourceInfo } from './types.ts';

export function writeLicenses(dir: string, infos: readonly SourceInfo[]): void {
  const lines = [
    '# Sources of this dataset',
    '',
    'Built by `coca data build` from packaged art. Each picture keeps the licence of its source;',
    'the CC BY and CC BY-SA sources require the attribution below when the pictures are shared,',
    'and the Tux Paint stamps are under the GNU GPL 2.',
    '',
    '| source | version | licence | attribution |',
    '|---|---|---|---|',
    ...infos.map((i) => `| ${i.name} | ${i.version} | ${i.license} | ${i.attribution} |`),
    '',
  ];
  fs.writeFileSync(path.join(dir, 'LICENSES.md'), lines.join('\n'));
}
