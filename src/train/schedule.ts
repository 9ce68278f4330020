// Learning rate: linear warm-up from 0, then cosine decay to 0 (open_clip's cosine_lr).

export function learningRate(step: number, base: number, warmup: number, total: number): number {
  if (step < warmup) return (base * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return 0.5 * base * (1 + Math.cos(Math.PI * progress));
}
