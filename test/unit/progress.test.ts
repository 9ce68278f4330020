import { describe, expect, it } from 'vitest';
import { createProgress, formatSeconds } from '../../src/util/progress.ts';

function fakeLog(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

function run(total: number, start: number, everyPercent?: number): string[] {
  const log = fakeLog();
  const p = createProgress({ label: 'train', total, start, fields: [{ name: 'loss' }, { name: 'ips', unit: 'img/s' }], stream: log.stream, everyPercent });
  for (let s = start + 1; s <= total; s++) p.update(s, { loss: (1 / s).toFixed(3), ips: '12.5' });
  p.stop();
  return log.lines();
}

describe('progress without a terminal', () => {
  it('prints one complete line per 5 % of the steps, never a carriage return', () => {
    const lines = run(1000, 0);
    expect(lines).toHaveLength(20);
    expect(lines.map((l) => Number(/ (\d+)\/1000/.exec(l)?.[1]))).toEqual(Array.from({ length: 20 }, (_, i) => 50 * (i + 1)));
    expect(lines[0]).toMatch(/^train {3}50\/1000 \( {2}5 %\) \| loss 0\.020 \| ips 12\.5 img\/s \| ETA \S+$/);
    expect(lines[19]).toBe('train 1000/1000 (100 %) | loss 0.001 | ips 12.5 img/s');
    expect(lines.join('')).not.toContain('\r');
  });

  it('a resumed run counts from where it resumed, and short runs print every step', () => {
    const resumed = run(1000, 600);
    expect(resumed.map((l) => Number(/ (\d+)\/1000/.exec(l)?.[1]))).toEqual([650, 700, 750, 800, 850, 900, 950, 1000]);
    expect(run(7, 0).map((l) => /(\d+)\/7/.exec(l)?.[1])).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    expect(run(300, 0, 10)).toHaveLength(10);
  });

  it('durations read as a person would write them', () => {
    expect(formatSeconds(59.4)).toBe('59s');
    expect(formatSeconds(61)).toBe('1m01s');
    expect(formatSeconds(3 * 3600 + 5 * 60 + 9)).toBe('3h05m');
    expect(formatSeconds(Infinity)).toBe('?');
  });
});
