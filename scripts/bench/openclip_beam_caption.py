#!/usr/bin/env python3
"""open_clip's side of `coca bench openclip-beam`: open_clip's own generate() with its default beam
search on the same checkpoint and picture, on this machine's CPU.

  openclip_beam_caption.py OPEN_CLIP_SRC/src/open_clip COCA_CHECKPOINT PICTURE.f32 SOT EOT

PICTURE.f32 is the normalised picture coca captioned ([3, S, S] little-endian float32). generate
hands beam search to Hugging Face transformers, loaded from COCA_TRANSFORMERS_SRC as
scripts/reference/openclip_beam.py does. One run (a default caption takes minutes on a CPU, and
torch has nothing to compile first). Prints one JSON line: the seconds of generate() (its image
encode included), the tokens it chose, torch's version and threads.
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import transformers_shims  # noqa: E402
from openclip_caption import build_model  # noqa: E402


def main(src, ck, picture, sot, eot):
    transformers_src = os.environ.get("COCA_TRANSFORMERS_SRC")
    if not transformers_src:
        sys.exit("openclip_beam_caption.py: set COCA_TRANSFORMERS_SRC to the src folder of a huggingface/transformers checkout (v5.x)")
    transformers_shims.install(transformers_src)
    torch.set_num_threads(os.cpu_count() or 1)  # every core, as the GPU adapter (lavapipe) may use
    model, S = build_model(src, ck)
    image = torch.from_numpy(np.fromfile(picture, dtype="<f4").reshape(1, 3, S, S).copy())
    with torch.no_grad():
        t0 = time.perf_counter()
        tokens = model.generate(image, sot_token_id=int(sot), eos_token_id=int(eot))
        seconds = time.perf_counter() - t0
    row = tokens[0].tolist()
    if int(eot) in row[1:]:
        row = row[:row.index(int(eot), 1) + 1]
    print(json.dumps({"seconds": seconds, "tokens": row, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main(*sys.argv[1:6])
