// Float64 reference of the contrastive family (kernels/contrastive.ts, shaders/contrastive.wgsl):
// symmetric InfoNCE over L2-normalised image and text embeddings with a learned temperature
// (docs/model.md, "Losses"), its loss and the gradients of weight·loss. The training step runs
// the GPU kernel (no read-back inside a step); this is what that kernel is tested against.
// With groups, the target of each row and column is uniform over the rows of its group
// (multi-positive InfoNCE, as SupCon and UniCL): Y_ij = [g_i = g_j] / |group of i| instead of δ_ij.

export interface ContrastiveResult {
  /** The loss itself (not weighted). */
  loss: number;
  /** d (weight·loss) / d image_embedding_raw, [B, E]. */
  dImage: Float64Array;
  dText: Float64Array;
  dLogitScale: number;
  /** exp(logit_scale) · img · txtᵀ, [B, B] (row i: image i against every text). */
  logits: Float64Array;
}

function normalise(x: ArrayLike<number>, B: number, E: number): { n: Float64Array; norms: Float64Array } {
  const n = new Float64Array(B * E);
  const norms = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let e = 0; e < E; e++) s += x[i * E + e]! ** 2;
    norms[i] = Math.max(Math.sqrt(s), 1e-12); // F.normalize's eps
    for (let e = 0; e < E; e++) n[i * E + e] = x[i * E + e]! / norms[i]!;
  }
  return { n, norms };
}

/** Backward of n = x/max(‖x‖, eps): dx = (dn − n·(n·dn))/‖x‖ (the clamp is never active in practice). */
function normaliseBackward(n: Float64Array, norms: Float64Array, dn: Float64Array, B: number, E: number): Float64Array {
  const dx = new Float64Array(B * E);
  for (let i = 0; i < B; i++) {
    let dot = 0;
    for (let e = 0; e < E; e++) dot += n[i * E + e]! * dn[i * E + e]!;
    for (let e = 0; e < E; e++) dx[i * E + e] = (dn[i * E + e]! - n[i * E + e]! * dot) / norms[i]!;
  }
  return dx;
}

/** Y_ij: δ_ij without groups, else 1/|group| for the pairs of one group. */
function targets(B: number, groups?: ArrayLike<number>): Float64Array {
  const Y = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    if (!groups) {
      Y[i * B + i] = 1;
      continue;
    }
    let n = 0;
    for (let j = 0; j < B; j++) if (groups[j] === groups[i]) n++;
    for (let j = 0; j < B; j++) if (groups[j] === groups[i]) Y[i * B + j] = 1 / n;
  }
  return Y;
}

/** The loss, and the gradients of weight·loss (weight = λ_con); `groups`: one id per row, rows sharing one are positives. */
export function contrastiveLoss(img: ArrayLike<number>, txt: ArrayLike<number>, logitScale: number, B: number, E: number, weight = 1, groups?: ArrayLike<number>): ContrastiveResult {
  const a = normalise(img, B, E);
  const t = normalise(txt, B, E);
  const s = Math.exp(logitScale);
  const logits = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      let d = 0;
      for (let e = 0; e < E; e++) d += a.n[i * E + e]! * t.n[j * E + e]!;
      logits[i * B + j] = s * d;
    }
  }
  // G = d loss / d logits: half the row-softmax CE (image → text) plus half the column one.
  const Y = targets(B, groups);
  const G = new Float64Array(B * B);
  let loss = 0;
  for (const byRow of [true, false]) {
    for (let i = 0; i < B; i++) {
      const at = (j: number) => (byRow ? i * B + j : j * B + i);
      let max = -Infinity;
      for (let j = 0; j < B; j++) max = Math.max(max, logits[at(j)]!);
      let sum = 0;
      for (let j = 0; j < B; j++) sum += Math.exp(logits[at(j)]! - max);
      const lse = max + Math.log(sum);
      loss += lse / (2 * B);
      for (let j = 0; j < B; j++) {
        loss -= (Y[at(j)]! * logits[at(j)]!) / (2 * B);
        G[at(j)]! += (Math.exp(logits[at(j)]! - lse) - Y[at(j)]!) / (2 * B);
      }
    }
  }
  const dna = new Float64Array(B * E);
  const dnt = new Float64Array(B * E);
  let dScale = 0;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      const g = G[i * B + j]! * weight;
      dScale += g * logits[i * B + j]!; // d(e^s·x)/ds = e^s·x
      for (let e = 0; e < E; e++) {
        dna[i * E + e]! += s * g * t.n[j * E + e]!;
        dnt[j * E + e]! += s * g * a.n[i * E + e]!;
      }
    }
  }
  return { loss, dImage: normaliseBackward(a.n, a.norms, dna, B, E), dText: normaliseBackward(t.n, t.norms, dnt, B, E), dLogitScale: dScale, logits };
}
