#!/usr/bin/env python3
"""USO's generator in PyTorch (CPU, float32): the FLUX DiT with USO's LoRA, hierarchical
projector and UnoPE token layout, as `uso bench step --batch` trains it, for an A-against-B
speed comparison on the same machine (Scripts/bench/vs-torch.sh).

Written from FLUX's (black-forest-labs/flux, modules/layers.py) and USO's definitions, with
FLUX's and USO's parameter names, so this project's safetensors files load into it as they
are. Two modes:

  check FIXTURE_DIR   load Tests/USOModelTests/Fixtures/tiny (config, weights, inputs) and
                      compare every sample's v_hat and the LoRA/projector gradients with the
                      committed reference (JAX, float64): proves this model is the same
                      model, block for block, LoRA place for LoRA place.
  bench CONFIG_JSON   time stage-uso training steps (frozen base, LoRA + projector trained,
                      AdamW) on a batch of samples with the same token counts as
                      `uso bench step` (noisy + reference + one style image + full text),
                      one thread; prints JSON with samples/s. With --profile, the timed
                      steps run again under torch.profiler and a table of the operators
                      taking most self time per step goes to stderr (GEMM and attention
                      operators summed apart; the profiler's own overhead inflates them).

    python3 -m pip install torch safetensors numpy
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def layer_norm(x, eps=1e-6):
    return F.layer_norm(x, x.shape[-1:], eps=eps)


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        rrms = torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + 1e-6)
        return x * rrms * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.query_norm, self.key_norm = RMSNorm(dim), RMSNorm(dim)


class LoRA(nn.Module):
    """USO's LoRA: up(down(x)), no bias, no alpha scaling."""
    def __init__(self, inf, outf, rank):
        super().__init__()
        self.down = nn.Linear(inf, rank, bias=False)
        self.up = nn.Linear(rank, outf, bias=False)

    def forward(self, x):
        return self.up(self.down(x))


class Modulation(nn.Module):
    def __init__(self, dim, n):
        super().__init__()
        self.n = n
        self.lin = nn.Linear(dim, n * dim)

    def forward(self, vec):                      # vec (B, D) -> n tensors (B, 1, D)
        return self.lin(F.silu(vec))[:, None, :].chunk(self.n, dim=-1)


class MLPEmbedder(nn.Module):
    def __init__(self, inf, hidden):
        super().__init__()
        self.in_layer, self.out_layer = nn.Linear(inf, hidden), nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.out_layer(F.silu(self.in_layer(x)))


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(pos, dim, theta):
    scale = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    omega = 1.0 / (theta ** scale)
    out = pos.double()[:, None] * omega[None, :]
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.reshape(out.shape[0], out.shape[1], 2, 2)


def embed_nd(ids, axes_dim, theta):
    return torch.cat([rope(ids[:, i], axes_dim[i], theta) for i in range(ids.shape[1])], dim=1)


def apply_rope(x, freqs):
    """x (B, H, L, D); freqs (L, D/2, 2, 2): rotation of adjacent pairs."""
    x_ = x.reshape(*x.shape[:-1], -1, 1, 2)
    out = freqs[..., 0] * x_[..., 0] + freqs[..., 1] * x_[..., 1]
    return out.reshape(x.shape)


def attention(q, k, v, pe):
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    out = F.scaled_dot_product_attention(q, k, v)             # (B, H, L, D)
    return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)


def heads_of(qkv, heads):
    B, L, w3 = qkv.shape
    x = qkv.reshape(B, L, 3, heads, w3 // 3 // heads).permute(2, 0, 3, 1, 4)
    return x[0], x[1], x[2]


class StreamAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.qkv, self.proj, self.norm = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), QKNorm(dim // heads)


class DoubleProcessor(nn.Module):
    """USO's LoRA on a double block: qkv_lora1/proj_lora1 (image), qkv_lora2/proj_lora2 (text)."""
    def __init__(self, dim, rank):
        super().__init__()
        self.qkv_lora1, self.proj_lora1 = LoRA(dim, 3 * dim, rank), LoRA(dim, dim, rank)
        self.qkv_lora2, self.proj_lora2 = LoRA(dim, 3 * dim, rank), LoRA(dim, dim, rank)


class DoubleStreamBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, rank):
        super().__init__()
        self.heads = heads
        hidden = dim * mlp_ratio
        self.img_mod, self.txt_mod = Modulation(dim, 6), Modulation(dim, 6)
        self.img_attn, self.txt_attn = StreamAttention(dim, heads), StreamAttention(dim, heads)
        self.img_mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.txt_mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.processor = DoubleProcessor(dim, rank)

    def forward(self, img, txt, vec, pe):
        im, tm = self.img_mod(vec), self.txt_mod(vec)
        pr = self.processor

        def prepare(x, mod, attn, lora):
            xm = (1 + mod[1]) * layer_norm(x) + mod[0]
            q, k, v = heads_of(attn.qkv(xm) + lora(xm), self.heads)
            return attn.norm.query_norm(q), attn.norm.key_norm(k), v

        iq, ik, iv = prepare(img, im, self.img_attn, pr.qkv_lora1)
        tq, tk, tv = prepare(txt, tm, self.txt_attn, pr.qkv_lora2)
        a = attention(torch.cat([tq, iq], 2), torch.cat([tk, ik], 2), torch.cat([tv, iv], 2), pe)
        ta, ia = a[:, : txt.shape[1]], a[:, txt.shape[1]:]
        img = img + im[2] * (self.img_attn.proj(ia) + pr.proj_lora1(ia))
        img = img + im[5] * self.img_mlp((1 + im[4]) * layer_norm(img) + im[3])
        txt = txt + tm[2] * (self.txt_attn.proj(ta) + pr.proj_lora2(ta))
        txt = txt + tm[5] * self.txt_mlp((1 + tm[4]) * layer_norm(txt) + tm[3])
        return img, txt


class SingleProcessor(nn.Module):
    def __init__(self, dim, mlp_hidden, rank):
        super().__init__()
        self.qkv_lora = LoRA(dim, 3 * dim, rank)               # on linear1's qkv slice
        self.proj_lora = LoRA(dim + mlp_hidden, dim, rank)     # on linear2


class SingleStreamBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, rank):
        super().__init__()
        self.dim, self.heads, self.hidden = dim, heads, dim * mlp_ratio
        self.modulation = Modulation(dim, 3)
        self.linear1 = nn.Linear(dim, 3 * dim + self.hidden)
        self.linear2 = nn.Linear(dim + self.hidden, dim)
        self.norm = QKNorm(dim // heads)
        self.processor = SingleProcessor(dim, self.hidden, rank)

    def forward(self, x, vec, pe):
        shift, scale, gate = self.modulation(vec)
        xm = (1 + scale) * layer_norm(x) + shift
        y1 = self.linear1(xm)
        qkv, mlp = y1[..., : 3 * self.dim] + self.processor.qkv_lora(xm), y1[..., 3 * self.dim:]
        q, k, v = heads_of(qkv, self.heads)
        a = attention(self.norm.query_norm(q), self.norm.key_norm(k), v, pe)
        cat = torch.cat([a, gelu_tanh(mlp)], dim=-1)
        return x + gate * (self.linear2(cat) + self.processor.proj_lora(cat))


class FinalLayer(nn.Module):
    def __init__(self, dim, out):
        super().__init__()
        self.linear = nn.Linear(dim, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec)[:, None, :].chunk(2, dim=-1)
        return self.linear((1 + scale) * layer_norm(x) + shift)


class ProjectorLevel(nn.Module):
    def __init__(self, n, t, e, d):
        super().__init__()
        self.embedding_linear = nn.Sequential(nn.Linear(n, t))
        self.layer_norm = nn.LayerNorm(e, eps=1e-5)
        self.projection = nn.Linear(e, d)

    def forward(self, c):                                      # c (B, N, E) -> (B, T, D)
        u = F.silu(self.embedding_linear(c.transpose(1, 2))).transpose(1, 2)
        return self.projection(self.layer_norm(u))


class FeatureEmbedder(nn.Module):
    """USO's hierarchical projector; keys feature_embedder.{high,mid,low}_{embedding_linear.0,layer_norm,projection}."""
    def __init__(self, n, t, e, d):
        super().__init__()
        for level in ["high", "mid", "low"]:
            lv = ProjectorLevel(n, t, e, d)
            setattr(self, f"{level}_embedding_linear", lv.embedding_linear)
            setattr(self, f"{level}_layer_norm", lv.layer_norm)
            setattr(self, f"{level}_projection", lv.projection)
        self.t = t

    def forward(self, features):                               # (B, S, 3, N, E) -> (B, S*3*T, D)
        out = []
        for s in range(features.shape[1]):
            for i, level in enumerate(["high", "mid", "low"]):
                c = features[:, s, i]
                u = F.silu(getattr(self, f"{level}_embedding_linear")(c.transpose(1, 2))).transpose(1, 2)
                out.append(getattr(self, f"{level}_projection")(getattr(self, f"{level}_layer_norm")(u)))
        return torch.cat(out, dim=1)


class USO(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["dit"]
        self.d = d
        dim, heads, ratio, rank = d["hiddenSize"], d["heads"], d["mlpRatio"], d["loraRank"]
        self.img_in = nn.Linear(d["inChannels"], dim)
        self.time_in = MLPEmbedder(d["timeEmbedDim"], dim)
        self.vector_in = MLPEmbedder(d["vecDim"], dim)
        self.guidance_in = MLPEmbedder(d["timeEmbedDim"], dim) if d["guidanceEmbed"] else None
        self.txt_in = nn.Linear(d["contextDim"], dim)
        self.double_blocks = nn.ModuleList([DoubleStreamBlock(dim, heads, ratio, rank) for _ in range(d["doubleBlocks"])])
        self.single_blocks = nn.ModuleList([SingleStreamBlock(dim, heads, ratio, rank) for _ in range(d["singleBlocks"])])
        self.final_layer = FinalLayer(dim, d["inChannels"])
        grid = cfg["styleEncoder"]["imageSize"] // cfg["styleEncoder"]["patchSize"]
        self.feature_embedder = FeatureEmbedder(grid * grid, cfg["projectorTokens"], cfg["styleEncoder"]["width"], dim)

    def forward(self, noisy, reference, style_features, text, pooled, t, guidance, pe):
        """Batched: every sample of the batch has the same token layout (B, rows, width)."""
        d = self.d
        txt = self.txt_in(text)
        if style_features is not None:
            txt = torch.cat([self.feature_embedder(style_features), txt], dim=1)
        img = self.img_in(noisy if reference is None else torch.cat([noisy, reference], dim=1))
        vec = self.time_in(timestep_embedding(t, d["timeEmbedDim"]))
        if self.guidance_in is not None:
            vec = vec + self.guidance_in(timestep_embedding(guidance, d["timeEmbedDim"]))
        vec = vec + self.vector_in(pooled)
        for b in self.double_blocks:
            img, txt = b(img, txt, vec, pe)
        x = torch.cat([txt, img], dim=1)
        for b in self.single_blocks:
            x = b(x, vec, pe)
        return self.final_layer(x[:, txt.shape[1]: txt.shape[1] + noisy.shape[1]], vec)

    def trainable(self):
        return [p for n, p in self.named_parameters() if ".processor." in n or n.startswith("feature_embedder.")]


def uno_ids(style_rows, text_rows, grid, ref_count):
    rows = [[0, 0, 0]] * (style_rows + text_rows) + [[0, i, j] for i in range(grid[0]) for j in range(grid[1])]
    off_h, off_w = grid
    for _ in range(ref_count):
        rows += [[0, i + off_h, j + off_w] for i in range(grid[0]) for j in range(grid[1])]
        off_h, off_w = off_h + grid[0], off_w + grid[1]
    return torch.tensor(rows, dtype=torch.float64)


def check(fixture):
    """The model against the committed JAX reference at preset tiny, in float64."""
    from safetensors import safe_open
    from safetensors.numpy import load_file
    torch.set_default_dtype(torch.float64)
    cfg = json.loads((fixture / "config.json").read_text())
    model = USO(cfg)
    state = {}
    for name in ["base", "dit_lora", "projector"]:
        state.update({k: torch.from_numpy(v.astype(np.float64)) for k, v in load_file(str(fixture / "weights" / f"{name}.safetensors")).items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit(f"the PyTorch model's parameters differ from the project's files: missing {missing}, unexpected {unexpected}")
    raw = {k: torch.from_numpy(v.astype(np.float64)) for k, v in load_file(str(fixture / "inputs.safetensors")).items()}
    with safe_open(str(fixture / "inputs.safetensors"), "np") as f:
        specs = json.loads(f.metadata()["samples"])
    ref = {k: torch.from_numpy(v.astype(np.float64)) for k, v in load_file(str(fixture / "reference.safetensors")).items()}
    side = cfg["autoencoder"]["imageSize"] // cfg["autoencoder"]["factor"] // 2
    d = cfg["dit"]
    losses, worst = [], 0.0
    for b, spec in enumerate(specs):
        s = {k[len(f"sample{b}."):]: v for k, v in raw.items() if k.startswith(f"sample{b}.")}
        style = s["style_features"][None] if spec["styleCount"] else None
        ids = uno_ids(spec["styleCount"] * 3 * cfg["projectorTokens"], s["text"].shape[0], (side, side), spec["referenceCount"])
        assert torch.equal(ids, s["position_ids"]), f"sample {b}: position ids differ"
        pe = embed_nd(ids, d["axesDims"], d["theta"])
        v = model(s["noisy"][None], s["reference"][None] if spec["referenceCount"] else None, style, s["text"][None],
                  s["pooled"][None], s["t"], s["guidance"], pe)[0]
        diff = (v - ref[f"sample{b}.v_hat"]).abs().max().item()
        worst = max(worst, diff)
        print(f"  sample {b} ({spec['name']}): max |v_hat - reference| {diff:.3g}")
        losses.append(((v - s["target"]) ** 2).mean())
    loss = torch.stack(losses).mean()
    loss.backward()
    names = dict(model.named_parameters())
    grad_worst, checked = 0.0, 0
    for k, g in ref.items():
        if not k.startswith("grad."):
            continue
        got = names[k[len("grad."):]].grad
        scale = g.abs().max().item()
        grad_worst = max(grad_worst, (got - g).abs().max().item() / max(scale, 1e-12))
        checked += 1
    trainable = len(model.trainable())
    print(f"loss {loss.item():.8f} (reference {ref['loss'].item():.8f}); {checked} of {trainable} trainable gradients "
          f"checked, largest difference {grad_worst:.3g} of the tensor's largest magnitude")
    ok = worst < 1e-5 and grad_worst < 1e-4 and abs(loss.item() - ref["loss"].item()) < 1e-6 and checked == trainable
    print("the PyTorch model matches the reference" if ok else "MISMATCH")
    return 0 if ok else 1


GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm")


def profile_steps(step, steps):
    """Runs `steps` more steps under torch.profiler; prints the operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - t0) / steps
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    per_step = lambda us: us / 1e3 / steps
    gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS)
    attn = sum(e.self_cpu_time_total for e in events if "scaled_dot_product" in e.key)
    err = sys.stderr
    print(f"PyTorch under the profiler: {wall * 1e3:.1f} ms per step (wall), {steps} steps", file=err)
    print(f"  GEMM ({', '.join(GEMM_OPS)}): {per_step(gemm):.1f} ms per step; "
          f"scaled_dot_product_attention forward + backward: {per_step(attn):.1f} ms per step", file=err)
    print(f"  {'operator':58s} {'ms/step':>8s} {'of wall':>8s} {'calls/step':>10s}", file=err)
    for e in events[:15]:
        print(f"  {e.key[:58]:58s} {per_step(e.self_cpu_time_total):8.2f} "
              f"{100 * per_step(e.self_cpu_time_total) / (wall * 1e3):7.1f}% {e.count / steps:10.0f}", file=err)


def bench(cfg, batch, steps, warmup, profile=False):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = USO(cfg)
    for p in model.parameters():
        p.requires_grad_(False)
    train = model.trainable()
    for p in train:
        p.requires_grad_(True)
    with torch.no_grad():                                    # non-zero adapters, as after some training
        for n, p in model.named_parameters():
            if n.endswith("up.weight"):
                p.normal_(0, 0.01)
    opt = torch.optim.AdamW(train, lr=1e-4, weight_decay=0.01)
    d = cfg["dit"]
    side = cfg["autoencoder"]["imageSize"] // cfg["autoencoder"]["factor"] // 2
    tokens, inc = side * side, d["inChannels"]
    grid = cfg["styleEncoder"]["imageSize"] // cfg["styleEncoder"]["patchSize"]
    text_rows = cfg["text"]["maxTokens"]
    noisy, ref = torch.randn(batch, tokens, inc), torch.randn(batch, tokens, inc)
    feats = torch.randn(batch, 1, 3, grid * grid, cfg["styleEncoder"]["width"])
    text, pooled = torch.randn(batch, text_rows, d["contextDim"]), torch.randn(batch, d["vecDim"])
    t, g, target = torch.full((batch,), 0.5), torch.ones(batch), torch.randn(batch, tokens, inc)
    pe = embed_nd(uno_ids(3 * cfg["projectorTokens"], text_rows, (side, side), 1), d["axesDims"], d["theta"]).float()

    def step():
        opt.zero_grad(set_to_none=False)
        v = model(noisy, ref, feats, text, pooled, t, g, pe)
        ((v - target) ** 2).mean().backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    if profile:
        profile_steps(step, steps)
    return {"implementation": f"PyTorch {torch.__version__}", "batch": batch, "step_seconds": med, "samples_per_second": batch / med,
            "threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "joint_tokens": 2 * tokens + 3 * cfg["projectorTokens"] + text_rows,
            "trainable_parameters": sum(p.numel() for p in train)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("check")
    c.add_argument("fixture", type=pathlib.Path)
    b = sub.add_parser("bench")
    b.add_argument("config", type=pathlib.Path, help="the preset's config JSON (uso model info --preset small --config-json)")
    b.add_argument("--batch", type=int, default=4)
    b.add_argument("--steps", type=int, default=10)
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--profile", action="store_true", help="also profile the steps (table on stderr)")
    args = ap.parse_args()
    if args.mode == "check":
        sys.exit(check(args.fixture))
    print(json.dumps(bench(json.loads(args.config.read_text()), args.batch, args.steps, args.warmup, args.profile)))


if __name__ == "__main__":
    main()
