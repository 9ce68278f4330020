#!/usr/bin/env python3
"""open_clip's CoCa with random weights, for coca's import/export checks (`coca import|export open_clip`).

  openclip_interop.py make  OPEN_CLIP_SRC/src/open_clip OUT [--config reduced|coca_ViT-B-32|coca_ViT-L-14] [--seed N]
  openclip_interop.py check OPEN_CLIP_SRC/src/open_clip EXPORTED_DIR FIXTURE_DIR
  openclip_interop.py runs-code OUT    # OUT/runs_code.bin: a torch.save pickle that calls os.getpid

`make` builds open_clip's own CoCa (its coca_model.py, imported as check_openclip.py does; open_clip's
default text mask, correct_cls_mask False, as its published checkpoints use) with every
parameter drawn from a seeded normal, and writes into OUT:
  open_clip_model.safetensors   the state dict as open_clip's hub export writes it (safetensors.torch)
  open_clip_pytorch_model.bin   the state dict as torch.save writes it (a PyTorch zip archive)
  epoch_1.pt                    open_clip's training checkpoint: {epoch, name, state_dict with
                                'module.' (DDP) prefixes, optimizer (AdamW state)}
  open_clip_config.json         {model_cfg, preprocess_cfg} as on the hub
  outputs.safetensors           inputs (images, text) and open_clip's outputs: image_features,
                                text_features (normalised), logits (forward on the text) and
                                greedy tokens (argmax, [SOT] and pad never chosen, as coca's search)
`check` loads a folder written by `coca export open_clip` into open_clip's CoCa with
load_state_dict(strict=True), runs it on FIXTURE_DIR's inputs and prints the largest differences
from FIXTURE_DIR's outputs as JSON (exit 1 when a difference exceeds 1e-4 or the load fails).

Greedy decoding is written out over open_clip's own text tower and decoder as its
MultimodalGenerationWrapper calls them (with [SOT] and pad never chosen, as coca's greedy); beam
search runs open_clip's own generate (through Hugging Face transformers) in openclip_beam.py.
Needs Debian's python3-torch (1.13) only: safetensors are read and written by safetensors_io.py.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_openclip import import_coca  # noqa: E402
from safetensors_io import load_file, load_metadata, save_file  # noqa: E402

REDUCED = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 12, "layers": 1, "width": 24, "patch_size": 4, "head_width": 12, "mlp_ratio": 2,
                   "attentional_pool": True, "attn_pooler_queries": 4, "attn_pooler_heads": 2, "output_tokens": True},
    "text_cfg": {"context_length": 7, "vocab_size": 23, "width": 16, "heads": 2, "layers": 1, "mlp_ratio": 2,
                 "embed_cls": True, "output_tokens": True},
    "multimodal_cfg": {"context_length": 7, "vocab_size": 23, "width": 16, "heads": 2, "layers": 1, "mlp_ratio": 2,
                       "attn_pooler_heads": 2},
    "custom_text": True,
}
# CLIP's preprocessing (open_clip's OPENAI_DATASET_MEAN/STD, bicubic, shortest side + centre crop).
PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
              "interpolation": "bicubic", "resize_mode": "shortest"}


def model_cfg(name, src):
    if name == "reduced":
        return json.loads(json.dumps(REDUCED))
    return json.loads((Path(src) / "model_configs" / f"{name}.json").read_text())


def build(CoCa, cfg):
    cfg = dict(cfg)
    cfg.pop("custom_text", None)  # open_clip's factory pops it before CoCa(**model_cfg)
    return CoCa(**cfg)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
            elif name.endswith(".weight") and ("ln" in name or "norm" in name):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def greedy(model, images, sot, eot, pad, max_len):
    """Argmax decoding over open_clip's modules as its generation wrapper uses them."""
    _, image_embs = model._encode_image(images)
    ids = torch.full((images.shape[0], 1), sot, dtype=torch.long)
    done = torch.zeros(images.shape[0], dtype=torch.bool)
    while ids.shape[1] < max_len and not done.all():
        logits = model.text_decoder(image_embs, model._encode_text(ids)[1])[:, -1].clone()
        logits[:, pad] = -math.inf
        logits[:, sot] = -math.inf
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, eot), nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
        done |= nxt == eot
    return ids


def inputs(cfg, seed, batch):
    g = torch.Generator().manual_seed(seed + 1)
    S, L, V = cfg["vision_cfg"]["image_size"], cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]
    images = torch.randn((batch, 3, S, S), generator=g)
    sot, eot = V - 2, V - 1
    text = torch.zeros((batch, L), dtype=torch.long)
    for b, n in enumerate(([L - 2, 1, 3] * batch)[:batch]):  # a full row, a short one, one in between
        body = torch.randint(1, V - 2, (n,), generator=g)
        row = torch.cat([torch.tensor([sot]), body, torch.tensor([eot])])[:L]
        text[b, :len(row)] = row
    return images, text, sot, eot


def outputs(model, images, text, sot, eot, max_len):
    model.eval()
    with torch.no_grad():
        out = model(images, text)
        tokens = greedy(model, images, sot, eot, model.pad_id, max_len)
    return {"image_features": out["image_features"], "text_features": out["text_features"], "logits": out["logits"],
            "greedy_tokens": tokens.to(torch.int32)}


def make(args):
    CoCa = import_coca(args.src)
    cfg = model_cfg(args.config, args.src)
    torch.manual_seed(args.seed)
    model = build(CoCa, cfg)
    randomise(model, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(out / "open_clip_model.safetensors"))
    torch.save(model.state_dict(), out / "open_clip_pytorch_model.bin")
    images, text, sot, eot = inputs(cfg, args.seed, args.batch)
    if args.config == "reduced":  # the training checkpoint only for the small model (its optimizer triples the size)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        model.train()
        out_t = model(images, text)
        (out_t["logits"].square().mean() + out_t["image_features"].sum()).backward()
        opt.step()
        opt.zero_grad()
        model.load_state_dict(sd)  # the checkpoints all hold the same weights; only the optimizer moved
        torch.save({"epoch": 1, "name": "coca-random", "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
                    "optimizer": opt.state_dict()}, out / "epoch_1.pt")
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": PREPROCESS}, indent=2) + "\n")
    o = outputs(model, images, text, sot, eot, args.max_len or cfg["text_cfg"]["context_length"])
    save_file({"input.images": images.contiguous(), "input.text": text.to(torch.int32), **{f"out.{k}": v.contiguous() for k, v in o.items()}},
              str(out / "outputs.safetensors"), metadata={"sot": str(sot), "eot": str(eot), "pad": str(model.pad_id)})
    print(json.dumps({"params": sum(p.numel() for p in model.parameters()), "tensors": len(sd),
                      "greedy_tokens": o["greedy_tokens"].tolist(),
                      "bytes": {f.name: f.stat().st_size for f in sorted(out.iterdir())}}))


class RunsCode:
    """Pickled as a call of os.getpid (harmless if run, but a checkpoint never asks to call anything)."""

    def __reduce__(self):
        import os
        return (os.getpid, ())


def runs_code(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"visual.proj": torch.zeros(2, 2), "note": RunsCode()}, out / "runs_code.bin")
    # Views as torch.save keeps them: a transpose (strides), a slice (offset), half and bfloat16 storages.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.7
    torch.save({"transposed": base.t(), "sliced": base[1:, 1:3], "half": base.half(), "bfloat16": base.bfloat16()}, out / "views.bin")
    print(json.dumps({"bytes": {f: (out / f).stat().st_size for f in ("runs_code.bin", "views.bin")}}))


def check(args):
    CoCa = import_coca(args.src)
    exported = Path(args.exported)
    cfg = json.loads((exported / "open_clip_config.json").read_text())["model_cfg"]
    model = build(CoCa, cfg)
    try:
        missing = model.load_state_dict(load_file(str(exported / "open_clip_model.safetensors")), strict=True)
    except RuntimeError as e:
        print(json.dumps({"strict_load": False, "error": str(e).splitlines()[0]}))
        return 1
    fx = load_file(str(Path(args.fixture) / "outputs.safetensors"))
    meta = load_metadata(str(Path(args.fixture) / "outputs.safetensors"))
    sot, eot = int(meta["sot"]), int(meta["eot"])
    o = outputs(model, fx["input.images"], fx["input.text"].long(), sot, eot, cfg["text_cfg"]["context_length"])
    diffs = {k: (o[k].float() - fx[f"out.{k}"].float()).abs().max().item() for k in ("image_features", "text_features", "logits")}
    same_tokens = bool(torch.equal(o["greedy_tokens"], fx["out.greedy_tokens"]))
    print(json.dumps({"strict_load": True, "missing_or_unexpected": len(missing.missing_keys) + len(missing.unexpected_keys),
                      "max_abs_diff": diffs, "greedy_tokens_equal": same_tokens}))
    return 0 if same_tokens and max(diffs.values()) <= 1e-4 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("src")
    m.add_argument("out")
    m.add_argument("--config", default="reduced")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--batch", type=int, default=3, help="pictures and text rows in outputs.safetensors")
    m.add_argument("--max-len", type=int, default=0, help="greedy length, [SOT] included [default: context_length]")
    e = sub.add_parser("runs-code")
    e.add_argument("out")
    c = sub.add_parser("check")
    c.add_argument("src")
    c.add_argument("exported")
    c.add_argument("fixture")
    args = ap.parse_args()
    torch.set_num_threads(1)
    return {"make": make, "check": check, "runs-code": runs_code}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
