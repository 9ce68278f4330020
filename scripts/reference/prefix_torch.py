#!/usr/bin/env python3
"""The prefix captioner (seed 000, ClipCap-like) in plain PyTorch: the reference coca's
src/model/captioners/prefix.ts is checked against.

A frozen coca image tower (coca_torch.py's VisionTransformer or CnnTower, in eval() mode, under
no_grad) gives the contrastive image embedding; `mapping` (c_fc, GELU, c_proj) turns it into
prefix_len vectors of the LM's width; `lm` is a decoder-only causal transformer (coca_torch.py's
Block, no cross-attention) over [prefix | caption tokens] with learned positions, ln_final and a
linear head; the loss is the cross-entropy of each next caption token, the prefix positions
predicting nothing. Runs with Debian's python3-torch (1.13); not needed by `npm test`.

  prefix_torch.py --config test/fixtures/prefix_micro.json --encoder test/fixtures/parity_micro.json \\
      --dump OUT.safetensors [--seed S] [--batch B]
      writes a parity fixture: inputs, every parameter and buffer (the tower's under its coca
      names), the contrastive embedding, the prefix, the logits, the caption loss and the gradient
      of every trainable parameter (the tower has none), and the tower's batch-norm statistics
      after the forward (unchanged: it runs in eval mode)

Computed in float64 from float32-representable inputs and parameters and stored as float32, as
coca_torch.py's fixtures.
"""
import argparse
import json
import os
import sys
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coca_torch import LN_EPS, Block, CnnTower, VisionTransformer, make_batch, resolve as resolve_coca, write_safetensors  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DECODER_DEFAULTS = {"mlp_ratio": 4, "pad_id": 0}


def resolve(raw, encoder_raw):
    return {"encoder": resolve_coca(encoder_raw), "mapping_cfg": dict(raw["mapping_cfg"]), "decoder_cfg": {**DECODER_DEFAULTS, **raw["decoder_cfg"]}}


class LanguageModel(nn.Module):
    """Token embedding, positions for prefix + caption, causal pre-LN blocks, ln_final, head."""

    def __init__(self, d, prefix_len):
        super().__init__()
        W = d["width"]
        self.token_embedding = nn.Embedding(d["vocab_size"], W)
        self.positional_embedding = nn.Parameter(torch.empty(prefix_len + d["context_length"], W))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList([Block(W, d["heads"], d["mlp_ratio"]) for _ in range(d["layers"])])
        self.ln_final = nn.LayerNorm(W, eps=LN_EPS)
        self.head = nn.Linear(W, d["vocab_size"])

    def forward(self, prefix, words):
        x = torch.cat([prefix, self.token_embedding(words)], 1)
        S = x.shape[1]
        x = x + self.positional_embedding[:S]
        allowed = torch.ones(S, S, dtype=torch.bool).tril().view(1, 1, S, S)
        for blk in self.transformer.resblocks:
            x = blk(x, allowed=allowed)
        return self.head(self.ln_final(x[:, prefix.shape[1]:]))


class PrefixCaptioner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        enc = cfg["encoder"]
        e = enc["embed_dim"]
        self.visual = (CnnTower if enc["vision_cfg"].get("tower") == "cnn" else VisionTransformer)(enc["vision_cfg"], e)
        m, d = cfg["mapping_cfg"], cfg["decoder_cfg"]
        self.mapping = nn.Sequential(OrderedDict([("c_fc", nn.Linear(e, m["hidden"])), ("gelu", nn.GELU()), ("c_proj", nn.Linear(m["hidden"], m["prefix_len"] * d["width"]))]))
        self.lm = LanguageModel(d, m["prefix_len"])
        for p in self.visual.parameters():
            p.requires_grad_(False)

    def forward(self, images, text):
        """Teacher forcing over the words a batch needs: feature [B, E], prefix [B, K, W], logits [B, T, V], T."""
        d, K = self.cfg["decoder_cfg"], self.cfg["mapping_cfg"]["prefix_len"]
        nonpad = (text != d["pad_id"]).nonzero()
        T = max(1, int(nonpad[nonpad[:, 1] > 0][:, 1].max())) if len(nonpad) else 1
        self.visual.eval()  # frozen: batch norm on its running statistics, whatever mode the rest is in
        with torch.no_grad():
            feature, _ = self.visual(images)
        prefix = self.mapping(feature).view(images.shape[0], K, d["width"])
        return feature, prefix, self.lm(prefix, text[:, :T].long()), T

    def loss(self, logits, text, T):
        pad = self.cfg["decoder_cfg"]["pad_id"]
        target = text[:, 1:T + 1].long()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=pad)


def init_parameters(model, gen):
    """Every parameter and buffer drawn (biases, norms and running statistics away from 0 and 1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or name.endswith("in_proj_bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif ".ln_" in name or ".bn" in name or (name.endswith(".weight") and p.dim() == 1):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * max(1, p.shape[-1]) ** -0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def dump(cfg, out_path, seed, batch):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    model = PrefixCaptioner(cfg)
    init_parameters(model, gen)
    v, d = cfg["encoder"]["vision_cfg"], cfg["decoder_cfg"]
    shim = {"vision_cfg": v, "text_cfg": {"context_length": d["context_length"], "vocab_size": d["vocab_size"], "pad_id": d["pad_id"]}}
    images, text = make_batch(shim, batch, torch.Generator().manual_seed(seed + 1))
    model = model.double()
    f32 = lambda x: x.detach().float()  # noqa: E731
    t = OrderedDict()
    t["input.images"] = images
    t["input.text"] = text
    for n, p in model.state_dict().items():
        if not n.endswith("num_batches_tracked"):
            t[f"param.{n}"] = f32(p)
    model.train()
    feature, prefix, logits, T = model(images.double(), text)
    loss = model.loss(logits, text, T)
    loss.backward()
    t["out.feature"] = f32(feature)
    t["out.prefix"] = f32(prefix)
    t["out.logits"] = f32(logits.reshape(batch * T, -1))
    t["loss.caption"] = f32(loss.reshape(1))
    for n, b in model.named_buffers():
        if n.endswith(("running_mean", "running_var")):
            t[f"out.{n}"] = f32(b)
    grads = 0
    for n, p in model.named_parameters():
        if n.startswith("visual."):
            assert p.grad is None, n
            continue
        t[f"grad.{n}"] = f32(p.grad)
        grads += 1
    meta = {"format": "coca-prefix-parity-1", "config": json.dumps(cfg), "seed": str(seed), "batch": str(batch), "steps": str(T),
            "compute": "float64, stored as float32", "torch": torch.__version__}
    write_safetensors(out_path, t, meta)
    print(json.dumps({"out": str(out_path), "tensors": len(t), "gradients": grads, "bytes": os.path.getsize(out_path), "loss": loss.item(), "steps": T}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="a JSON config of a prefix captioner (mapping_cfg, decoder_cfg)")
    ap.add_argument("--encoder", required=True, help="the coca config JSON of the frozen image tower")
    ap.add_argument("--dump", metavar="OUT.safetensors", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=3)
    a = ap.parse_args(argv)
    cfg = resolve(json.loads(Path(a.config).read_text()), json.loads(Path(a.encoder).read_text()))
    dump(cfg, a.dump, a.seed, a.batch)


if __name__ == "__main__":
    sys.exit(main())
