#!/usr/bin/env python3
"""Show and Tell and Show, Attend and Tell in plain PyTorch: the reference coca's LSTM captioners
(src/model/captioners/lstm.ts) are checked against.

Seed 001's modules and names (decoder.embedding, decoder.decode_step = nn.LSTMCell,
decoder.init + decoder.bn, decoder.attention.{encoder_att,decoder_att,full_att}, decoder.init_h,
decoder.init_c, decoder.f_beta, decoder.fc), over coca's ViT trunk read directly (visual.*: the
class token after ln_post is the pooled image, the patch tokens the feature map). Runs with
Debian's python3-torch (1.13); not needed by `npm test`.

  lstm_torch.py --config test/fixtures/lstm_micro_sat.json --dump OUT.safetensors [--seed S] [--batch B]
      writes a parity fixture: inputs, every parameter (PyTorch's names: the LSTM cell as its four
      tensors, as nn.LSTMCell holds them), the outputs of a training forward (logits, attention
      weights, batch norm's updated running statistics), both loss terms, every gradient (the
      cell's in coca's fused layout: [dW_ih | dW_hh] and the bias gradient, which both biases share),
      and the logits of an inference forward (running statistics, no dropout)

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
from coca_torch import LN_EPS, Transformer, make_batch, write_safetensors  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

DECODER_DEFAULTS = {"dropout": 0.5, "pad_id": 0, "alpha_c": 1.0}


def resolve(raw):
    v = dict(raw["vision_cfg"])
    v.setdefault("mlp_ratio", 4)
    v.setdefault("heads", v["width"] // v.get("head_width", 64))
    d = {**DECODER_DEFAULTS, **raw["decoder_cfg"]}
    if raw["arch"] == "sat":
        d.setdefault("attention_width", d["hidden"])
    return {"arch": raw["arch"], "vision_cfg": v, "decoder_cfg": d}


class Vit(nn.Module):
    """coca's ViT trunk (CoCa's conv1, class token, positions, ln_pre, blocks) with an ln_post of its width."""

    def __init__(self, v):
        super().__init__()
        w, p = v["width"], v["patch_size"]
        grid = v["image_size"] // p
        self.conv1 = nn.Conv2d(3, w, kernel_size=p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(w))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w, eps=LN_EPS)
        self.transformer = Transformer(w, v["layers"], v["heads"], v["mlp_ratio"])
        self.ln_post = nn.LayerNorm(w, eps=LN_EPS)

    def forward(self, images):
        x = self.conv1(images).flatten(2).transpose(1, 2)
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)
        for blk in self.transformer.resblocks:
            x = blk(x)
        x = self.ln_post(x)
        return x[:, 0], x[:, 1:]


class Attention(nn.Module):
    """Seed 001's: α = softmax(full_att(relu(encoder_att(f) + decoder_att(h)))), z = Σ α f."""

    def __init__(self, encoder_dim, decoder_dim, attention_dim):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)

    def forward(self, encoder_out, h, att1=None):
        att1 = self.encoder_att(encoder_out) if att1 is None else att1
        e = self.full_att(F.relu(att1 + self.decoder_att(h).unsqueeze(1))).squeeze(2)
        alpha = F.softmax(e, dim=1)
        return (encoder_out * alpha.unsqueeze(2)).sum(dim=1), alpha


class ShowTell(nn.Module):
    def __init__(self, d, encoder_dim):
        super().__init__()
        E, H, V = d["embed_width"], d["hidden"], d["vocab_size"]
        self.embedding = nn.Embedding(V, E)
        self.decode_step = nn.LSTMCell(E, H)
        self.init = nn.Linear(encoder_dim, E)
        self.bn = nn.BatchNorm1d(E)
        self.fc = nn.Linear(H, V)
        self.dropout = nn.Dropout(d["dropout"])

    def forward(self, emb, feats, words):
        """words [B, T] → hidden states [T, B, H] and no attention."""
        B = words.shape[0]
        zero = emb.new_zeros(B, self.decode_step.hidden_size)
        h, c = self.decode_step(self.bn(self.init(emb)), (zero, zero))
        x = self.embedding(words)
        hs = []
        for t in range(words.shape[1]):
            h, c = self.decode_step(x[:, t], (h, c))
            hs.append(h)
        return torch.stack(hs), None


class ShowAttendTell(nn.Module):
    def __init__(self, d, encoder_dim):
        super().__init__()
        E, H, V, A = d["embed_width"], d["hidden"], d["vocab_size"], d["attention_width"]
        self.attention = Attention(encoder_dim, H, A)
        self.embedding = nn.Embedding(V, E)
        self.decode_step = nn.LSTMCell(E + encoder_dim, H)
        self.init_h = nn.Linear(encoder_dim, H)
        self.init_c = nn.Linear(encoder_dim, H)
        # The gating scalar of Xu et al. §4.2.1 (β = σ(f_β(h))): one output.
        self.f_beta = nn.Linear(H, 1)
        self.fc = nn.Linear(H, V)
        self.dropout = nn.Dropout(d["dropout"])

    def forward(self, emb, feats, words):
        mean = feats.mean(dim=1)
        h, c = self.init_h(mean), self.init_c(mean)
        att1 = self.attention.encoder_att(feats)
        x = self.embedding(words)
        hs, alphas = [], []
        for t in range(words.shape[1]):
            z, alpha = self.attention(feats, h, att1)
            z = torch.sigmoid(self.f_beta(h)) * z
            h, c = self.decode_step(torch.cat([x[:, t], z], dim=1), (h, c))
            hs.append(h)
            alphas.append(alpha)
        return torch.stack(hs), torch.stack(alphas)


class Captioner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.visual = Vit(cfg["vision_cfg"])
        w = cfg["vision_cfg"]["width"]
        self.decoder = (ShowTell if cfg["arch"] == "showtell" else ShowAttendTell)(cfg["decoder_cfg"], w)

    def forward(self, images, text):
        """Teacher forcing over the words a batch needs: logits [T, B, V], α [T, B, P] or None, T."""
        pad = self.cfg["decoder_cfg"]["pad_id"]
        nonpad = (text != pad).nonzero()
        T = max(1, int(nonpad[nonpad[:, 1] > 0][:, 1].max())) if len(nonpad) else 1
        emb, feats = self.visual(images)
        hs, alphas = self.decoder(emb, feats, text[:, :T].long())
        return self.decoder.fc(self.decoder.dropout(hs)), alphas, T

    def losses(self, logits, alphas, text, T):
        d = self.cfg["decoder_cfg"]
        target = text[:, 1:T + 1].long().t()  # [T, B], time-major like the logits
        counted = target != d["pad_id"]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1])[counted.reshape(-1)], target.reshape(-1)[counted.reshape(-1)])
        out = {"caption": ce}
        if alphas is not None:
            # Seed 001: alpha_c · mean((1 − Σ_t α)²), α of finished rows left at 0.
            total = (alphas * counted.unsqueeze(2)).sum(dim=0)
            out["regulariser"] = d["alpha_c"] * ((1.0 - total) ** 2).mean()
        out["total"] = sum(out.values())
        return out


def init_parameters(model, gen):
    """Every parameter drawn (biases and norms too, so their gradients are tested with nonzero values)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif ".ln_" in name or ".bn." in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def dump(cfg, out_path, seed, batch):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    model = Captioner(cfg)
    init_parameters(model, gen)
    v, d = cfg["vision_cfg"], cfg["decoder_cfg"]
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
    logits, alphas, T = model(images.double(), text)
    loss = model.losses(logits, alphas, text, T)
    loss["total"].backward()
    t["out.logits"] = f32(logits.reshape(T * batch, -1))
    if alphas is not None:
        t["out.alphas"] = f32(alphas)
    for k, val in loss.items():
        t[f"loss.{k}"] = f32(val.reshape(1))
    for n, b in model.named_buffers():
        if n.endswith(("running_mean", "running_var")):
            t[f"out.{n}"] = f32(b)
    cell = model.decoder.decode_step
    assert torch.allclose(cell.bias_ih.grad, cell.bias_hh.grad)
    for n, p in model.named_parameters():
        if ".decode_step." in n:
            continue
        t[f"grad.{n}"] = f32(p.grad)
    t["grad.decoder.decode_step.weight"] = f32(torch.cat([cell.weight_ih.grad, cell.weight_hh.grad], dim=1))
    t["grad.decoder.decode_step.bias"] = f32(cell.bias_ih.grad)
    model.eval()
    with torch.no_grad():
        eval_logits, _, _ = model(images.double(), text)
    t["out.eval_logits"] = f32(eval_logits.reshape(T * batch, -1))
    meta = {"format": "coca-lstm-parity-1", "config": json.dumps(cfg), "seed": str(seed), "batch": str(batch), "steps": str(T),
            "compute": "float64, stored as float32", "torch": torch.__version__}
    write_safetensors(out_path, t, meta)
    print(json.dumps({"out": str(out_path), "tensors": len(t), "bytes": os.path.getsize(out_path), "losses": {k: val.item() for k, val in loss.items()}}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="a JSON config of a showtell or sat model")
    ap.add_argument("--dump", metavar="OUT.safetensors", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=3)
    a = ap.parse_args(argv)
    dump(resolve(json.loads(Path(a.config).read_text())), a.dump, a.seed, a.batch)


if __name__ == "__main__":
    sys.exit(main())
