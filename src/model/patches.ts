// Images to patch rows for the ViT's patch embedding, on the CPU (a reordering, no arithmetic):
// patch (gy, gx) of image b becomes row gy·G + gx, its pixels in (channel, ky, kx) order, which
// is the order of conv1.weight [W, 3, p, p] flattened to [W, 3p²] (docs/model.md, image encoder).

/** images [B, 3, S, S] (CHW) → patches [B, G², 3p²] with G = S/p. */
export function unfoldPatches(images: Float32Array, B: number, S: number, p: number): Float32Array {
  const G = S / p;
  if (!Number.isInteger(G)) throw new Error(`image size ${S} is not a multiple of the patch size ${p}`);
  if (images.length !== B * 3 * S * S) throw new Error(`${images.length} pixels are not ${B} images of 3x${S}x${S}`);
  const row = 3 * p * p;
  const out = new Float32Array(B * G * G * row);
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < p; ky++) {
            const src = ((b * 3 + c) * S + gy * p + ky) * S + gx * p;
            out.set(images.subarray(src, src + p), o);
            o += p;
          }
        }
      }
    }
  }
  return out;
}
