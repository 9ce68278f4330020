#!/usr/bin/env python3
"""open_clip's side of `coca bench openclip`: the same checkpoint and input on this machine's CPU.

  openclip_caption.py OPEN_CLIP_SRC/src/open_clip COCA_CHECKPOINT TOKENS RUNS SEED SOT

Builds open_clip's CoCa (imported from its source as scripts/reference/check_openclip.py does)
from the coca checkpoint's config.json, loads its model.safetensors strictly (coca keeps
open_clip's names), and times one picture: image encode, first token, then tokens/s of the next
TOKENS-1 greedy tokens computed as open_clip's generate computes them (its
MultimodalGenerationWrapper under transformers with use_cache=False: every step runs the text
tower and the decoder over the whole prefix). generate itself needs Hugging Face transformers,
which this machine lacks; the model calls per step are the same. Prints one JSON line.
"""
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
from check_openclip import import_coca  # noqa: E402
from safetensors_io import load_file  # noqa: E402


def build_model(src, ck):
    """open_clip's CoCa with the coca checkpoint's config and weights (loaded strictly), in eval mode."""
    CoCa = import_coca(src)
    c = json.loads((Path(ck) / "config.json").read_text())
    v, t, m = c["vision_cfg"], c["text_cfg"], c["multimodal_cfg"]
    model = CoCa(embed_dim=c["embed_dim"], pad_id=t["pad_id"],
                 vision_cfg=dict(image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"], layers=v["layers"],
                                 head_width=v["width"] // v["heads"], mlp_ratio=v["mlp_ratio"], attentional_pool=True,
                                 attn_pooler_queries=v["attn_pooler_queries"], attn_pooler_heads=v["attn_pooler_heads"], output_tokens=True),
                 text_cfg=dict(context_length=t["context_length"], vocab_size=t["vocab_size"], width=t["width"], heads=t["heads"],
                               layers=t["layers"], mlp_ratio=t["mlp_ratio"], embed_cls=True, output_tokens=True, pad_id=t["pad_id"]),
                 multimodal_cfg={k: m[k] for k in ("context_length", "vocab_size", "width", "heads", "layers")})
    model.load_state_dict(load_file(str(Path(ck) / "model.safetensors")), strict=True)
    model.eval()
    return model, v["image_size"]


def main(src, ck, tokens, runs, seed, sot):
    tokens, runs = int(tokens), int(runs)
    torch.set_num_threads(os.cpu_count() or 1)  # every core, as the GPU adapter (lavapipe) may use
    model, S = build_model(src, ck)
    image = torch.randn((1, 3, S, S), generator=torch.Generator().manual_seed(int(seed)))
    enc, first, rest = [], [], []
    with torch.no_grad():
        for r in range(runs + 1):
            t0 = time.perf_counter()
            _, image_embs = model._encode_image(image)
            t1 = time.perf_counter()
            ids = torch.tensor([[int(sot)]])
            for k in range(tokens):
                if k == 1:
                    t2 = time.perf_counter()
                logits = model.text_decoder(image_embs, model._encode_text(ids)[1])[:, -1]
                ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
            t3 = time.perf_counter()
            if r == 0:
                continue
            enc.append(t1 - t0)
            first.append(t2 - t1)
            rest.append(t3 - t2)
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(json.dumps({"encodeMs": 1000 * med(enc), "firstTokenMs": 1000 * med(first), "tokensPerSec": (tokens - 1) / med(rest),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
