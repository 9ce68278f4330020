import { describe, expect, it } from 'vitest';
import { captionMetrics, recallMetrics, renderReport, topKMetrics, type EvalSection } from '../../../src/eval/report.ts';

describe('eval report', () => {
  const sections: EvalSection[] = [
    {
      title: 'test-concept',
      sizes: { images: 82, captions: 82 },
      rows: [
        { name: 'coca', metrics: { ...recallMetrics({ ks: [1, 5, 10], imageToText: [0.24, 0.5, 0.7], textToImage: [0.2, 0.45, 0.6] }), ...captionMetrics({ bleu: [0.5, 0.3, 0.2, 0.1], ciderD: 0.2412 }) } },
        { name: 'nearest-neighbour caption', metrics: captionMetrics({ bleu: [0.4, 0.2, 0.1, 0.05], ciderD: 0.27 }) },
        { name: 'chance', metrics: { i2t_r1: 1 / 82, t2i_r1: 1 / 82, cider_d: NaN } },
      ],
    },
    { title: 'fashion-mnist (zero-shot)', sizes: { images: 1000, classes: 10 }, rows: [{ name: 'coca', metrics: topKMetrics({ ks: [1, 5], accuracy: [0.1, 0.5] }) }] },
  ];

  it('prints percentages for recall and accuracy, 3 decimals for BLEU and CIDEr-D, — for missing', () => {
    const { text } = renderReport(sections);
    const lines = text.split('\n');
    expect(lines[0]).toBe('test-concept (82 images, 82 captions)');
    expect(lines[1]).toMatch(/^\s+I→T R@1\s+I→T R@5\s+I→T R@10\s+T→I R@1.*BLEU-4\s+CIDEr-D$/);
    expect(lines[3]).toMatch(/^coca\s+24\.0%\s+50\.0%\s+70\.0%\s+20\.0%.*0\.100\s+0\.241$/);
    expect(lines[5]).toMatch(/^chance\s+1\.2%\s+—\s+—\s+1\.2%.*—$/);
    expect(renderReport([{ title: 't', sizes: {}, rows: [{ name: 'chance', metrics: { t2i_r1: 1 / 1438 } }] }]).text).toMatch(/0\.07%$/);
    // zero-shot section shows only its own columns.
    expect(text).toContain('fashion-mnist (zero-shot) (1000 images, 10 classes)');
    expect(lines.at(-1)).toMatch(/^coca\s+10\.0%\s+50\.0%$/);
    // every row of a section has the same width, so columns line up.
    const body = lines.slice(1, 6).filter((l) => !l.startsWith('─'));
    const ends = body.map((l) => [...l].length);
    expect(new Set(ends).size).toBe(1);
  });

  it('returns JSON-safe raw fractions with null for non-finite values', () => {
    const { json } = renderReport(sections);
    const round = JSON.parse(JSON.stringify(json)) as typeof json;
    expect(round).toEqual(json);
    expect(json.sections[0]!.rows[0]!.metrics.i2t_r1).toBe(0.24);
    expect(json.sections[0]!.rows[2]!.metrics.cider_d).toBeNull();
    expect(json.sections[1]!.sizes).toEqual({ images: 1000, classes: 10 });
  });
});
