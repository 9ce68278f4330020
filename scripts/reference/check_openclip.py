#!/usr/bin/env python3
"""Checks a parity fixture in open_clip's layout (attentional_pool true) against open_clip itself.

  check_openclip.py OPEN_CLIP_SRC/src/open_clip test/fixtures/parity_openclip.safetensors

OPEN_CLIP_SRC is a checkout of mlfoundations/open_clip (checked at 89fb801). Nothing is
installed: the few modules CoCa needs are copied to a temp package, with stubs for the HF, timm
and torchvision imports it does not use, and a plain scaled_dot_product_attention for torch
< 2.0. open_clip's text tower gets correct_cls_mask=True (docs/model.md, deviation 2).
Prints whether the state-dict names, order and shapes agree and the largest output differences.
"""
import json
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, scale=None, is_causal=False):
    s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if attn_mask is not None:
        s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else s + attn_mask
    return s.softmax(-1) @ v


def import_coca(src):
    pkg = Path(tempfile.mkdtemp()) / "open_clip"
    pkg.mkdir()
    # generation.py imports transformers, but coca_model.py imports it only inside generate().
    for f in ("transformer.py", "utils.py", "pos_embed.py", "layers.py", "model.py", "coca_model.py", "modified_resnet.py", "generation.py"):
        shutil.copy(Path(src) / f, pkg / f)
    (pkg / "__init__.py").write_text("")
    (pkg / "hf_model.py").write_text("class HFTextEncoder: pass\n")
    (pkg / "timm_model.py").write_text("class TimmModel: pass\n")
    utils = (pkg / "utils.py").read_text().replace("from torchvision.ops.misc import FrozenBatchNorm2d", "FrozenBatchNorm2d = None")
    (pkg / "utils.py").write_text(utils)
    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = sdpa
    sys.path.insert(0, str(pkg.parent))
    from open_clip.coca_model import CoCa
    return CoCa


def read_safetensors(path):
    b = Path(path).read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    header, start, out = json.loads(b[8:8 + n]), 8 + n, {}
    for k, e in header.items():
        if k != "__metadata__":
            s, t = e["data_offsets"]
            dt = {"F32": np.float32, "I32": np.int32}[e["dtype"]]
            out[k] = torch.from_numpy(np.frombuffer(b[start + s:start + t], dtype=dt).reshape(e["shape"]).copy())
    return out, header["__metadata__"]


def main(src, fixture):
    CoCa = import_coca(src)
    t, meta = read_safetensors(fixture)
    cfg = json.loads(meta["config"])
    v, tc, m = cfg["vision_cfg"], cfg["text_cfg"], cfg["multimodal_cfg"]
    assert v["attentional_pool"] is True, "only open_clip's layout (attentional_pool true) can be compared"
    model = CoCa(
        embed_dim=cfg["embed_dim"], pad_id=tc["pad_id"],
        vision_cfg=dict(image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"], layers=v["layers"],
                        head_width=v["width"] // v["heads"], mlp_ratio=v["mlp_ratio"], attentional_pool=True,
                        attn_pooler_queries=v["attn_pooler_queries"], attn_pooler_heads=v["attn_pooler_heads"], output_tokens=True),
        text_cfg=dict(context_length=tc["context_length"], vocab_size=tc["vocab_size"], width=tc["width"], heads=tc["heads"],
                      layers=tc["layers"], mlp_ratio=tc["mlp_ratio"], embed_cls=True, output_tokens=True, pad_id=tc["pad_id"]),
        multimodal_cfg={k: m[k] for k in ("context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio")})
    model.text.correct_cls_mask = True
    ours = [k[len("param."):] for k in t if k.startswith("param.")]
    sd = model.state_dict()
    same = list(sd) == ours and all(tuple(sd[k].shape) == tuple(t["param." + k].shape) for k in ours)
    print(json.dumps({"names_order_shapes_equal": same, "open_clip_tensors": len(sd), "fixture_tensors": len(ours)}))
    if not same:
        return 1
    model.load_state_dict({k: t["param." + k] for k in ours})
    out = model.double().eval()(t["input.images"].double(), t["input.text"].long())
    diff = lambda a, b: (a.float() - b).abs().max().item()  # noqa: E731
    print(json.dumps({"image_embedding": diff(out["image_features"], t["out.image_embedding"]),
                      "text_embedding": diff(out["text_features"], t["out.text_embedding"]),
                      "logits": diff(out["logits"], t["out.logits"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
