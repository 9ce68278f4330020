#!/usr/bin/env python3
"""CoCa in plain PyTorch: the reference coca's TypeScript model is checked against.

Same architecture, configs and parameter names as src/model (open_clip's CoCa state-dict names;
docs/model.md describes every tensor). Runs with Debian's python3-torch (1.13); needs no
open_clip and is not needed by `npm test`.

  coca_torch.py --config nano|tiny|small|b32|path.json --dump OUT.safetensors [--seed S] [--batch B] [--pool cascade|true]
      writes a parity fixture (see test/fixtures/README.md for its tensors)
  coca_torch.py --config tiny --time [--batch 32] [--steps 20] [--warmup 5] [--threads 2]
      times a training step (zero_grad, forward, loss, backward, AdamW, clamp) and prints JSON
  coca_torch.py --config tiny --time-serve [--batch 32] [--warmup 5] [--threads 2]
      the same step on request: a line N on stdin runs N steps and prints their ms as JSON
      (`coca bench step` alternates them with its own steps)
  coca_torch.py --config nano --params
      prints the parameter list (name, shape, decay, init) as JSON
  coca_torch.py --config tiny --train --data builtin --steps 1000 --batch 64 --seed 1 --out runs/torch-tiny-s1
      trains as `coca train` does (same batches, streamed from coca's own loader by
      scripts/reference/batches.ts; warm-up + cosine AdamW, clip, logit-scale clamp, decay mask,
      loss weights) and writes a run folder coca can read: log.jsonl in coca's format and
      checkpoints/last, so `coca eval runs/torch-tiny-s1` scores it with the same code

The dump computes in float64 from float32-representable inputs and parameters and stores
float32, so the fixture is the exact answer up to one rounding and the TypeScript side's
float32 error is measured alone.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path

# Debian's torch and OpenBLAS spin their thread pools by default and oversubscribe 2 cores
# (2.3× slower steps; shared/research/perf-ceilings.md §4). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PRESETS = ("nano", "nano-cnn", "tiny", "small", "b32")
LN_EPS = 1e-5
LOSS_WEIGHTS = {"contrastive": 1.0, "caption": 2.0}
ADAMW = {"lr": 1e-3, "betas": [0.9, 0.98], "eps": 1e-6, "weight_decay": 0.1, "steps": 3, "logit_scale_max": math.log(100)}


# ---------------------------------------------------------------- config (mirrors src/model/config.ts)

def load_config(name_or_path):
    path = REPO / "src/model/configs" / f"{name_or_path}.json" if name_or_path in PRESETS else Path(name_or_path)
    return resolve(json.loads(Path(path).read_text()))


def resolve(raw):
    v, t, m = dict(raw["vision_cfg"]), dict(raw["text_cfg"]), dict(raw["multimodal_cfg"])
    if "heads" not in v and v.get("tower") != "cnn":
        v["heads"] = v["width"] // v.get("head_width", 64)
    if v.get("tower") == "cnn":
        # The ViT keys a CNN tower derives (src/model/config-schema.ts): the tokens' width, the
        # total downsampling, the block count.
        v.setdefault("cnn_stem_stride", 1)
        v.setdefault("cnn_stem_pool", False)
        grid = cnn_grid(v["image_size"], len(v["cnn_widths"]), v["cnn_stem_stride"], v["cnn_stem_pool"])
        v.update(width=v["cnn_widths"][-1], patch_size=v["image_size"] // grid, layers=sum(v["cnn_depths"]), heads=1, mlp_ratio=4)
    vision = {k: v.get(k, d) for k, d in [("image_size", None), ("patch_size", None), ("width", None), ("layers", None), ("heads", None),
                                          ("mlp_ratio", 4), ("attentional_pool", "cascade"), ("attn_pooler_queries", 256), ("attn_pooler_heads", 8)]}
    if v.get("tower") == "cnn":
        vision.update({k: v[k] for k in ("tower", "cnn_widths", "cnn_depths", "cnn_stem_stride", "cnn_stem_pool")})
    text = {k: t.get(k, d) for k, d in [("context_length", None), ("vocab_size", None), ("width", None), ("heads", 8), ("layers", None),
                                        ("mlp_ratio", 4), ("pad_id", 0)]}
    multi = {k: m.get(k, d) for k, d in [("context_length", text["context_length"]), ("vocab_size", text["vocab_size"]), ("width", None),
                                         ("heads", 8), ("layers", None), ("mlp_ratio", 4)]}
    cfg = {"embed_dim": raw["embed_dim"], "vision_cfg": vision, "text_cfg": text, "multimodal_cfg": multi}
    assert vision["attentional_pool"] in ("cascade", True), "attentional_pool must be 'cascade' or true"
    assert multi["width"] == cfg["embed_dim"] == text["width"], "embed_dim, text width and multimodal width must agree"
    return cfg


def cnn_grid(size, stages, stem_stride, stem_pool):
    """The CNN tower's final map side: 3x3 convs and pool with padding 1 map n to (n - 1) // s + 1."""
    n = (size - 1) // stem_stride + 1
    if stem_pool:
        n = (n - 1) // 2 + 1
    for _ in range(stages - 1):
        n = (n - 1) // 2 + 1
    return n


# ---------------------------------------------------------------- modules (open_clip names)

class Attention(nn.Module):
    """nn.MultiheadAttention's parameter names: fused in_proj_weight when kdim == d, else q/k/v."""

    def __init__(self, d, heads, kdim=None):
        super().__init__()
        kdim = kdim or d
        self.heads = heads
        if kdim == d:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(d, d))
            self.k_proj_weight = nn.Parameter(torch.empty(d, kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(d, kdim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, kv=None, allowed=None):
        """x [B,T,d] queries; kv [B,S,kdim] keys/values (default x); allowed [B|1,1,T,S] bool."""
        kv = x if kv is None else kv
        if hasattr(self, "in_proj_weight"):
            wq, wk, wv = self.in_proj_weight.chunk(3)
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        bq, bk, bv = self.in_proj_bias.chunk(3)
        B, T, d = x.shape
        S, H = kv.shape[1], self.heads
        q = F.linear(x, wq, bq).view(B, T, H, d // H).transpose(1, 2)
        k = F.linear(kv, wk, bk).view(B, S, H, d // H).transpose(1, 2)
        v = F.linear(kv, wv, bv).view(B, S, H, d // H).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) * (d // H) ** -0.5
        if allowed is None:
            p = s.softmax(-1)
        else:
            # A query that may see no key outputs 0 (as the WGSL kernel does) instead of NaN.
            seen = allowed.any(-1, keepdim=True)
            s = torch.where(seen, s.masked_fill(~allowed, float("-inf")), torch.zeros_like(s))
            p = s.softmax(-1) * seen
        o = (p @ v).transpose(1, 2).reshape(B, T, d)
        return self.out_proj(o)


class Block(nn.Module):
    """Pre-LN residual block (open_clip ResidualAttentionBlock); cross=True adds ln_1_kv."""

    def __init__(self, d, heads, mlp_ratio, cross=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=LN_EPS)
        self.attn = Attention(d, heads)
        if cross:
            self.ln_1_kv = nn.LayerNorm(d, eps=LN_EPS)
        self.ln_2 = nn.LayerNorm(d, eps=LN_EPS)
        h = int(d * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, h)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(h, d))]))

    def forward(self, x, kv=None, allowed=None):
        if kv is not None:
            kv = self.ln_1_kv(kv)
        x = x + self.attn(self.ln_1(x), kv, allowed)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, mlp_ratio):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(d, heads, mlp_ratio) for _ in range(layers)])


class AttentionalPooler(nn.Module):
    def __init__(self, d, ctx, heads, queries):
        super().__init__()
        self.query = nn.Parameter(torch.empty(queries, d))
        self.attn = Attention(d, heads, kdim=ctx)
        self.ln_q = nn.LayerNorm(d, eps=LN_EPS)
        self.ln_k = nn.LayerNorm(ctx, eps=LN_EPS)

    def forward(self, x):
        q = self.ln_q(self.query).unsqueeze(0).expand(x.shape[0], -1, -1)
        return self.attn(q, self.ln_k(x))


class VisionTransformer(nn.Module):
    def __init__(self, v, e):
        super().__init__()
        w, p = v["width"], v["patch_size"]
        grid = v["image_size"] // p
        self.cascade = v["attentional_pool"] == "cascade"
        self.conv1 = nn.Conv2d(3, w, kernel_size=p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(w))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w, eps=LN_EPS)
        self.transformer = Transformer(w, v["layers"], v["heads"], v["mlp_ratio"])
        self.attn_pool = AttentionalPooler(e, w, v["attn_pooler_heads"], v["attn_pooler_queries"])
        if self.cascade:
            # Reads the captioning pooler's outputs, so its context is embed_dim wide (open_clip's
            # untested cascade gives it the ViT width and only runs when the two are equal).
            self.attn_pool_contrastive = AttentionalPooler(e, e, v["attn_pooler_heads"], 1)
        self.ln_post = nn.LayerNorm(e, eps=LN_EPS)
        self.proj = nn.Parameter(torch.empty(e, e))

    def forward(self, images):
        x = self.conv1(images).flatten(2).transpose(1, 2)  # [B, grid², w], patches row by row
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)
        for blk in self.transformer.resblocks:
            x = blk(x)
        if self.cascade:
            tokens = self.ln_post(self.attn_pool(x))
            pooled = self.attn_pool_contrastive(tokens)[:, 0]
        else:
            x = self.ln_post(self.attn_pool(x))
            pooled, tokens = x[:, 0], x[:, 1:]
        return pooled @ self.proj, tokens


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock, its names; GELU where it has ReLU (src/model/cnn-encoder.ts)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.downsample = None

    def forward(self, x):
        h = F.gelu(self.bn1(self.conv1(x)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.gelu(self.bn2(self.conv2(h)) + shortcut)


class CnnTower(nn.Module):
    """CoCa's image tower with a ResNet-style CNN in place of the ViT: the final map's pixels are the poolers' tokens."""

    def __init__(self, v, e):
        super().__init__()
        widths, depths = v["cnn_widths"], v["cnn_depths"]
        self.proj = nn.Parameter(torch.empty(e, e))
        self.conv1 = nn.Conv2d(3, widths[0], 3, v["cnn_stem_stride"], 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.stem_pool = v["cnn_stem_pool"]
        self.stages = len(widths)
        cin = widths[0]
        for s, (w, d) in enumerate(zip(widths, depths)):
            blocks = []
            for j in range(d):
                blocks.append(BasicBlock(cin, w, 2 if s > 0 and j == 0 else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.cascade = v["attentional_pool"] == "cascade"
        self.attn_pool = AttentionalPooler(e, cin, v["attn_pooler_heads"], v["attn_pooler_queries"])
        if self.cascade:
            self.attn_pool_contrastive = AttentionalPooler(e, e, v["attn_pooler_heads"], 1)
        self.ln_post = nn.LayerNorm(e, eps=LN_EPS)

    def feature_map(self, images):
        x = F.gelu(self.bn1(self.conv1(images)))
        if self.stem_pool:
            x = F.max_pool2d(x, 3, 2, 1)
        for s in range(self.stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return x

    def forward(self, images):
        x = self.feature_map(images).flatten(2).transpose(1, 2)  # [B, H*W, C], pixels row by row
        return pool_tokens(self, x)


def pool_tokens(tower, x):
    """The poolers over the tower's tokens: (pooled @ proj, image tokens), as VisionTransformer."""
    if tower.cascade:
        tokens = tower.ln_post(tower.attn_pool(x))
        pooled = tower.attn_pool_contrastive(tokens)[:, 0]
    else:
        x = tower.ln_post(tower.attn_pool(x))
        pooled, tokens = x[:, 0], x[:, 1:]
    return pooled @ tower.proj, tokens


class TextTransformer(nn.Module):
    def __init__(self, t, e):
        super().__init__()
        w = t["width"]
        self.pad_id = t["pad_id"]
        self.token_embedding = nn.Embedding(t["vocab_size"], w)
        self.cls_emb = nn.Parameter(torch.empty(w))
        self.positional_embedding = nn.Parameter(torch.empty(t["context_length"] + 1, w))
        self.transformer = Transformer(w, t["layers"], t["heads"], t["mlp_ratio"])
        self.ln_final = nn.LayerNorm(w, eps=LN_EPS)
        self.text_projection = nn.Parameter(torch.empty(w, e))

    def forward(self, text):
        B, L = text.shape
        x = self.token_embedding(text.long())
        x = torch.cat([x, self.cls_emb.view(1, 1, -1).expand(B, 1, -1)], 1) + self.positional_embedding[: L + 1]
        # Causal, and no query sees a pad key (open_clip's corrected CLS mask): this is what keeps
        # the CLS embedding independent of how much padding a row has.
        keys = torch.cat([text != self.pad_id, torch.ones(B, 1, dtype=torch.bool)], 1)
        causal = torch.ones(L + 1, L + 1, dtype=torch.bool).tril()
        allowed = causal.view(1, 1, L + 1, L + 1) & keys.view(B, 1, 1, L + 1)
        for blk in self.transformer.resblocks:
            x = blk(x, allowed=allowed)
        return self.ln_final(x[:, -1]) @ self.text_projection, x[:, :-1]


class MultimodalTransformer(nn.Module):
    def __init__(self, m):
        super().__init__()
        d = m["width"]
        self.resblocks = nn.ModuleList([Block(d, m["heads"], m["mlp_ratio"]) for _ in range(m["layers"])])
        self.cross_attn = nn.ModuleList([Block(d, m["heads"], m["mlp_ratio"], cross=True) for _ in range(m["layers"])])
        self.ln_final = nn.LayerNorm(d, eps=LN_EPS)
        self.text_projection = nn.Parameter(torch.empty(d, m["vocab_size"]))

    def forward(self, image_tokens, text_tokens):
        T = text_tokens.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool).tril().view(1, 1, T, T)
        x = text_tokens
        for self_blk, cross_blk in zip(self.resblocks, self.cross_attn):
            x = self_blk(x, allowed=causal)
            x = cross_blk(x, kv=image_tokens)
        return self.ln_final(x) @ self.text_projection


class CoCa(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        e = cfg["embed_dim"]
        self.cfg = cfg
        self.pad_id = cfg["text_cfg"]["pad_id"]
        self.text = TextTransformer(cfg["text_cfg"], e)
        self.visual = (CnnTower if cfg["vision_cfg"].get("tower") == "cnn" else VisionTransformer)(cfg["vision_cfg"], e)
        self.text_decoder = MultimodalTransformer(cfg["multimodal_cfg"])
        self.logit_scale = nn.Parameter(torch.tensor(0.0))
        init_parameters(self)

    def forward(self, images, text):
        image_raw, image_tokens = self.visual(images)
        text_raw, text_tokens = self.text(text)
        logits = self.text_decoder(image_tokens, text_tokens)
        return {"image_raw": image_raw, "text_raw": text_raw, "image_tokens": image_tokens, "text_tokens": text_tokens, "logits": logits}

    def losses(self, out, text, weights=LOSS_WEIGHTS):
        img = F.normalize(out["image_raw"], dim=-1)
        txt = F.normalize(out["text_raw"], dim=-1)
        per_image = self.logit_scale.exp() * img @ txt.t()
        labels = torch.arange(img.shape[0])
        con = (F.cross_entropy(per_image, labels) + F.cross_entropy(per_image.t(), labels)) / 2
        logits = out["logits"]
        cap = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), text[:, 1:].reshape(-1).long(), ignore_index=self.pad_id)
        total = weights["contrastive"] * con + weights["caption"] * cap
        return {"image": img, "text": txt, "logits_per_image": per_image, "contrastive": con, "caption": cap, "total": total}


# ---------------------------------------------------------------- init and decay (mirrors src/model/shapes.ts)

DECAY_SUFFIXES = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight",
                  "c_fc.weight", "c_proj.weight", "conv1.weight", "visual.proj", "text_projection")


def param_spec(name, shape, cfg):
    v, t, m, e = cfg["vision_cfg"], cfg["text_cfg"], cfg["multimodal_cfg"], cfg["embed_dim"]
    decay = name.endswith(DECAY_SUFFIXES) or len(shape) == 4  # every conv weight
    normal = lambda std: {"kind": "normal", "std": std}  # noqa: E731
    if v.get("tower") == "cnn" and name.startswith("visual.") and ".attn_pool" not in name and not name.startswith("visual.ln_post"):
        if len(shape) == 4:  # He's fan-out init, torchvision's kaiming_normal_(mode="fan_out")
            init = normal(math.sqrt(2 / (shape[0] * shape[2] * shape[3])))
        elif name == "visual.proj":
            init = normal(e ** -0.5)
        else:  # batch norm
            init = {"kind": "zeros"} if name.endswith("bias") else {"kind": "ones"}
        return {"name": name, "shape": list(shape), "decay": decay, "init": init}
    fixed = {
        "logit_scale": {"kind": "constant", "value": math.log(1 / 0.07)},
        "text.cls_emb": normal(0.01),
        "text.positional_embedding": normal(0.01),
        "text.token_embedding.weight": normal(0.02),
        "text.text_projection": normal(t["width"] ** -0.5),
        "text_decoder.text_projection": normal(m["width"] ** -0.5),
        "visual.class_embedding": normal(v["width"] ** -0.5),
        "visual.positional_embedding": normal(v["width"] ** -0.5),
        "visual.proj": normal(e ** -0.5),
        "visual.conv1.weight": normal((3 * v["patch_size"] ** 2) ** -0.5),
    }
    if name in fixed:
        init = fixed[name]
    elif name.endswith("bias"):
        init = {"kind": "zeros"}
    elif name.split(".")[-2].startswith("ln_"):
        init = {"kind": "ones"}
    elif ".attn_pool" in name:
        # fan-in: d_model for q (and the fused in_proj), context width for k and v
        init = normal(1.0) if name.endswith(".query") else normal(shape[1] ** -0.5)
    else:  # transformer block: CLIP's depth-scaled init
        d = shape[-1] if not name.endswith("c_proj.weight") else shape[0]
        layers = {"visual": v, "text": t, "text_decoder": m}[name.split(".")[0]]["layers"]
        if name.endswith("in_proj_weight"):
            init = normal(d ** -0.5)
        elif name.endswith("c_fc.weight"):
            init = normal((2 * d) ** -0.5)
        else:  # out_proj.weight, c_proj.weight
            init = normal(d ** -0.5 * (2 * layers) ** -0.5)
    return {"name": name, "shape": list(shape), "decay": decay, "init": init}


def init_parameters(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            init = param_spec(name, p.shape, model.cfg)["init"]
            if init["kind"] == "normal":
                p.normal_(0.0, init["std"])
            elif init["kind"] == "zeros":
                p.zero_()
            elif init["kind"] == "ones":
                p.fill_(1.0)
            else:
                p.fill_(init["value"])


def decays(name, p):
    return name.endswith(DECAY_SUFFIXES) or p.dim() == 4


def state_specs(model, cfg):
    """The parameter list of src/model/shapes.ts: state-dict order, batch norm's running statistics
    as buffers; num_batches_tracked left out (coca keeps momentum 0.1, so nothing reads it)."""
    params = dict(model.named_parameters())
    out = []
    for n, t in model.state_dict().items():
        if n.endswith("num_batches_tracked"):
            continue
        if n in params:
            out.append(param_spec(n, t.shape, cfg))
        else:
            out.append({"name": n, "shape": list(t.shape), "decay": False, "init": {"kind": "ones" if n.endswith("running_var") else "zeros"}, "buffer": True})
    return out


def make_optimizer(model, hyper=ADAMW):
    decay = [p for n, p in model.named_parameters() if decays(n, p)]
    rest = [p for n, p in model.named_parameters() if not decays(n, p)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": hyper["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
                             lr=hyper["lr"], betas=tuple(hyper["betas"]), eps=hyper["eps"])


def learning_rate(step, base, warmup, total):
    """Linear warm-up from 0, then cosine decay to 0 (src/train/schedule.ts, open_clip's cosine_lr)."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * base * (1 + math.cos(math.pi * progress))


def train_step(model, opt, images, text):
    opt.zero_grad(set_to_none=True)
    loss = model.losses(model(images, text), text)["total"]
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0.0, ADAMW["logit_scale_max"])
    return loss.item()


# ---------------------------------------------------------------- inputs

def make_batch(cfg, batch, gen):
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    L, V = t["context_length"], t["vocab_size"]
    images = torch.randn(batch, 3, v["image_size"], v["image_size"], generator=gen)
    # [SOT]=1 … [EOT]=2 then pad (coca's tokenizer); row lengths cycle so some rows end in padding.
    text = torch.full((batch, L), t["pad_id"], dtype=torch.int32)
    for i in range(batch):
        n = max(3, L - [0, 2, 3][i % 3])
        body = torch.randint(3, V, (n - 2,), generator=gen, dtype=torch.int32)
        text[i, :n] = torch.cat([torch.tensor([1], dtype=torch.int32), body, torch.tensor([2], dtype=torch.int32)])
    return images, text


# ---------------------------------------------------------------- safetensors (format: src/model/safetensors.ts)

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8"}


def write_safetensors(path, tensors, metadata):
    header, blobs, at = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - (len(head) + 8) % 8) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- modes

def dump(cfg, out_path, seed, batch):
    torch.set_num_threads(1)  # one thread: the same bits on every run
    torch.manual_seed(seed)
    model = CoCa(cfg)  # float32 init, so every parameter is exactly representable in the fixture
    gen = torch.Generator().manual_seed(seed + 1)
    images, text = make_batch(cfg, batch, gen)
    model = model.double()
    f32 = lambda x: x.detach().float()  # noqa: E731
    t = OrderedDict()
    t["input.images"] = images
    t["input.text"] = text
    names = [n for n, _ in model.named_parameters()]
    for n, p in model.named_parameters():
        t[f"param.{n}"] = f32(p)
    buffers = OrderedDict((n, b) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    initial = {n: b.clone() for n, b in buffers.items()}
    for n, b in buffers.items():
        t[f"buffer.{n}"] = f32(b)
    out = model(images.double(), text)  # training mode: batch norm's batch statistics, running ones moved
    loss = model.losses(out, text)
    loss["total"].backward()
    if buffers:
        for n, b in buffers.items():
            t[f"out.buffer.{n}"] = f32(b)
        # Inference with the running statistics that forward left (PyTorch's eval()).
        model.eval()
        with torch.no_grad():
            ev = model(images.double(), text)
        model.train()
        t["eval.image_embedding_raw"] = f32(ev["image_raw"])
        t["eval.image_tokens"] = f32(ev["image_tokens"])
        with torch.no_grad():  # the 3 steps below start from the initial statistics, as coca's test does
            for n, b in buffers.items():
                b.copy_(initial[n])
    t["out.image_embedding_raw"] = f32(out["image_raw"])
    t["out.image_embedding"] = f32(loss["image"])
    t["out.text_embedding_raw"] = f32(out["text_raw"])
    t["out.text_embedding"] = f32(loss["text"])
    t["out.image_tokens"] = f32(out["image_tokens"])
    t["out.text_tokens"] = f32(out["text_tokens"])
    t["out.logits_per_image"] = f32(loss["logits_per_image"])
    t["out.logits"] = f32(out["logits"])
    for k in ("contrastive", "caption", "total"):
        t[f"loss.{k}"] = f32(loss[k])
    for n, p in model.named_parameters():
        t[f"grad.{n}"] = f32(p.grad)
    opt = make_optimizer(model)
    losses = [train_step(model, opt, images.double(), text) for _ in range(ADAMW["steps"])]
    t["train.losses"] = torch.tensor(losses, dtype=torch.float32)
    for n, p in model.named_parameters():
        t[f"train.param.{n}"] = f32(p)
    for n, b in buffers.items():
        t[f"train.buffer.{n}"] = f32(b)
    specs = state_specs(model, cfg)
    assert [s["name"] for s in specs if not s.get("buffer")] == names
    meta = {
        "format": "coca-parity-1",
        "config": json.dumps(cfg),
        "params": json.dumps(specs),
        "seed": str(seed),
        "batch": str(batch),
        "adamw": json.dumps(ADAMW),
        "loss_weights": json.dumps(LOSS_WEIGHTS),
        "compute": "float64, stored as float32",
        "torch": torch.__version__,
    }
    write_safetensors(out_path, t, meta)
    print(json.dumps({"out": str(out_path), "tensors": len(t), "bytes": os.path.getsize(out_path),
                      "losses": {k: loss[k].item() for k in ("contrastive", "caption", "total")}, "train_losses": losses}))


def time_steps(cfg, name, batch, steps, warmup, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CoCa(cfg)
    opt = make_optimizer(model)
    images, text = make_batch(cfg, batch, torch.Generator().manual_seed(1))
    ms = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        train_step(model, opt, images, text)
        if i >= warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "config": name, "batch": batch, "ms_per_step": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2),
        "steps": steps, "warmup": warmup, "threads": threads, "params": sum(p.numel() for p in model.parameters()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "torch": torch.__version__,
    }))


def time_serve(cfg, name, batch, warmup, threads):
    """--time-serve: time_steps' step on request, so that a caller can alternate it with its own.

    Prints one JSON line when warmed up; then for each line "N" read from stdin runs N steps and
    prints {"ms": [...]}; ends at end of input. Between requests it waits on stdin, using no CPU
    (OMP_WAIT_POLICY=PASSIVE keeps the OpenMP threads from spinning)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CoCa(cfg)
    opt = make_optimizer(model)
    images, text = make_batch(cfg, batch, torch.Generator().manual_seed(1))
    for _ in range(warmup):
        train_step(model, opt, images, text)
    print(json.dumps({"ready": True, "config": name, "batch": batch, "threads": threads, "torch": torch.__version__,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}), flush=True)
    for line in sys.stdin:
        ms = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            train_step(model, opt, images, text)
            ms.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps({"ms": [round(x, 2) for x in ms]}), flush=True)


def read_exact(stream, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            raise SystemExit(f"coca_torch.py: the batch stream ended after {got} of {n} bytes (see the node error above)")
        got += k
    return buf


def train_run(cfg, name, a):
    """`coca train` in PyTorch, on the batches coca's own loader draws (see the module docstring)."""
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    if (out / "run.json").exists():
        raise SystemExit(f"coca_torch.py: {out} already holds a run; pick another --out")
    batch = a.batch or 32
    warmup = a.warmup_steps if a.warmup_steps is not None else max(1, round(a.steps * 0.05))
    S, L = cfg["vision_cfg"]["image_size"], cfg["text_cfg"]["context_length"]
    cmd = ["node", "--import", "tsx", str(REPO / "scripts/reference/batches.ts"), "--data", a.data, "--batch", str(batch),
           "--steps", str(a.steps), "--seed", str(a.seed), "--image-size", str(S), "--context", str(L)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    head = json.loads(proc.stdout.readline() or b"null") or sys.exit("coca_torch.py: the batch streamer wrote nothing (see the node error above)")
    for part in ("text_cfg", "multimodal_cfg"):
        cfg[part]["vocab_size"] = head["vocabSize"]
    torch.manual_seed(a.seed)
    model = CoCa(cfg)
    hyper = {**ADAMW, "lr": a.lr, "weight_decay": a.weight_decay}
    weights = {"contrastive": a.contrastive_weight, "caption": a.caption_weight}
    opt = make_optimizer(model, hyper)
    out.mkdir(parents=True, exist_ok=True)
    run = {"trainer": f"pytorch {torch.__version__} (scripts/reference/coca_torch.py)", "config": cfg, "configName": name, "data": a.data,
           "out": str(out), "steps": a.steps, "batch": batch, "lr": a.lr, "warmup": warmup, "weightDecay": a.weight_decay,
           "beta1": hyper["betas"][0], "beta2": hyper["betas"][1], "eps": hyper["eps"], "clip": a.clip, "weights": weights,
           "seed": a.seed, "threads": a.threads, "params": sum(p.numel() for p in model.parameters())}
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    img_bytes, tok_bytes = batch * 3 * S * S * 4, batch * L * 4
    params = list(model.parameters())
    t_start = time.perf_counter()
    with open(out / "log.jsonl", "w") as log:
        for step in range(a.steps):
            t0 = time.perf_counter()
            images = torch.frombuffer(read_exact(proc.stdout, img_bytes), dtype=torch.float32).view(batch, 3, S, S)
            text = torch.frombuffer(read_exact(proc.stdout, tok_bytes), dtype=torch.int32).view(batch, L)
            lr = learning_rate(step, a.lr, warmup, a.steps)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            scale = model.logit_scale.item()
            parts = model.losses(model(images, text), text, weights)
            parts["total"].backward()
            norm = torch.nn.utils.clip_grad_norm_(params, a.clip).item()
            if not math.isfinite(parts["total"].item()) or not math.isfinite(norm):
                raise SystemExit(f"coca_torch.py: step {step + 1}: the loss or a gradient is not finite")
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, ADAMW["logit_scale_max"])
            ms = (time.perf_counter() - t0) * 1e3
            rec = {"step": step + 1, "contrastive": parts["contrastive"].item(), "caption": parts["caption"].item(), "total": parts["total"].item(),
                   "logitScale": scale, "lr": lr, "gradNorm": norm, "ms": ms, "imagesPerSec": batch * 1e3 / ms}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if (step + 1) % 50 == 0 or step + 1 == a.steps:
                eta = (time.perf_counter() - t_start) / (step + 1) * (a.steps - step - 1)
                print(f"torch train {step + 1}/{a.steps} | loss {rec['total']:.3f} (con {rec['contrastive']:.3f}, cap {rec['caption']:.3f}) | {rec['imagesPerSec']:.1f} img/s | ETA {eta:.0f} s", file=sys.stderr, flush=True)
    proc.wait()
    ckpt = out / "checkpoints" / "last"
    ckpt.mkdir(parents=True, exist_ok=True)
    write_safetensors(ckpt / "model.safetensors", OrderedDict((n, p.detach().float()) for n, p in model.named_parameters()),
                      {"format": "coca-1", "config": json.dumps(cfg)})
    (ckpt / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copyfile(head["tokenizer"], ckpt / "tokenizer.json")
    (ckpt / "state.json").write_text(json.dumps({"step": a.steps, "preprocess": {"mean": head["mean"], "std": head["std"]}}, indent=2) + "\n")
    print(json.dumps({"out": str(out), "steps": a.steps, "wall_s": round(time.perf_counter() - t_start, 1), "last": rec}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="preset (nano, tiny, small, b32) or a JSON config file")
    ap.add_argument("--dump", metavar="OUT.safetensors", help="write a parity fixture")
    ap.add_argument("--time", action="store_true", help="time a training step, print JSON")
    ap.add_argument("--time-serve", action="store_true", help="time training steps on request (a line N on stdin: N steps), for a caller that alternates them with its own")
    ap.add_argument("--params", action="store_true", help="print the parameter list as JSON")
    ap.add_argument("--train", action="store_true", help="train on coca's built data as `coca train` does; writes --out")
    ap.add_argument("--data", default="builtin-small", help="--train: dataset name or built folder, as for coca train")
    ap.add_argument("--out", help="--train: run folder to write")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-steps", type=int, default=None, help="--train: warm-up steps [default: 5%% of --steps]")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--caption-weight", type=float, default=2.0)
    ap.add_argument("--contrastive-weight", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=None, help="default 3 for --dump, 32 for --time")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool", choices=["cascade", "true"], help="override vision_cfg.attentional_pool")
    a = ap.parse_args(argv)
    cfg = load_config(a.config)
    if a.pool:
        cfg["vision_cfg"]["attentional_pool"] = True if a.pool == "true" else "cascade"
    if a.dump:
        dump(cfg, a.dump, a.seed, a.batch or 3)
    elif a.time:
        time_steps(cfg, a.config, a.batch or 32, a.steps, a.warmup, a.threads)
    elif a.time_serve:
        time_serve(cfg, a.config, a.batch or 32, a.warmup, a.threads)
    elif a.train:
        if not a.out:
            ap.error("--train needs --out")
        train_run(cfg, a.config, a)
    elif a.params:
        model = CoCa(cfg)
        print(json.dumps(state_specs(model, cfg)))
    else:
        ap.error("give one of --dump, --time, --time-serve, --params, --train")


if __name__ == "__main__":
    sys.exit(main())
