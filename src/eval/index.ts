// The scorers behind `coca eval`: pure CPU functions over captions, similarity matrices and
// embeddings, so the CLI and the training loop's validation share one definition of each metric.
export { bleu, bleuFromStats, bleuImageStats, closestRefLen, type BleuResult, type BleuStats } from './bleu.ts';
export { ciderD, type CiderOptions, type CiderResult } from './cider.ts';
export { scoreCaptions, type CaptionScores } from './captioning.ts';
export { PTB_PUNCTUATION, tokenizeCaption } from './tokenize.ts';
export { recallFromRanks, retrievalRecall, retrievalRecallPairs, similarity, type RecallResult } from './recall.ts';
export { topKAccuracy, type TopKResult } from './zeroshot.ts';
export {
  hitChance, nearestNeighbourCaptions, randomCaptions, retrievalChance, topKChance, type NearestNeighbourResult,
} from './baselines.ts';
export {
  captionMetrics, formatSection, METRIC_COLUMNS, recallMetrics, renderReport, topKMetrics,
  type EvalReportJson, type EvalRow, type EvalSection, type MetricColumn, type Metrics,
} from './report.ts';
