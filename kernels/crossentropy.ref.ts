// Float64 reference of the cross-entropy family: plain loops, the ground truth for tests and for
// the validation step of `coca bench crossentropy`. torch semantics (reduction 'mean' over the rows
// whose target is not ignoreIndex), except that no counted row gives loss 0, not NaN. `smoothing`
// ε is torch's label_smoothing: each counted row's loss is (1 − ε)·(−log p_target) + ε·mean_j(−log p_j).

export interface CrossEntropyRefResult {
  /** (N): lse(row) − x[target], 0 on ignored rows. */
  rowLoss: Float64Array;
  /** (N, 2): max of the row, log Σ exp(x − max). */
  stats: Float64Array;
  loss: number;
  count: number;
}

/** logits (N, V), targets (N). */
export function crossEntropyRef(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number, ignoreIndex: number, smoothing = 0): CrossEntropyRefResult {
  const N = targets.length;
  const rowLoss = new Float64Array(N);
  const stats = new Float64Array(2 * N);
  let sum = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, logits[n * V + j]!);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[n * V + j]! - m);
    stats[2 * n] = m;
    stats[2 * n + 1] = Math.log(s);
    const t = targets[n]!;
    if (t === ignoreIndex) continue;
    const lse = m + Math.log(s);
    let uniform = 0;
    for (let j = 0; j < V; j++) uniform += (lse - logits[n * V + j]!) / V;
    rowLoss[n] = smoothing ? (1 - smoothing) * (lse - logits[n * V + t]!) + smoothing * uniform : m - logits[n * V + t]! + Math.log(s);
    sum += rowLoss[n]!;
    count++;
  }
  return { rowLoss, stats, loss: count ? sum / count : 0, count };
}

/** dlogits (N, V) of dloss·loss: (softmax − (1 − ε)·onehot(target) − ε/V)·dloss/count, 0 on ignored rows. */
export function crossEntropyBackwardRef(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number, ignoreIndex: number, dloss = 1, smoothing = 0): Float64Array {
  const { stats, count } = crossEntropyRef(logits, targets, V, ignoreIndex);
  const N = targets.length;
  const d = new Float64Array(N * V);
  if (!count) return d;
  const g = dloss / count;
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    if (t === ignoreIndex) continue;
    for (let j = 0; j < V; j++) {
      d[n * V + j] = (Math.exp(logits[n * V + j]! - stats[2 * n]! - stats[2 * n + 1]!) - (j === t ? 1 - smoothing : 0) - smoothing / V) * g;
    }
  }
  return d;
}
