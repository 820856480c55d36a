#!/usr/bin/env python3
"""An independent reference implementation of USO's generator (the FLUX DiT with USO's
LoRA, hierarchical projector and UnoPE token layout) in JAX, float64.

Written from the definitions of FLUX.1 (black-forest-labs/flux, modules/layers.py and
model.py), UNO and USO (bytedance/USO), not from this project's Swift code. It loads what
`uso model dump` wrote (config.json, weights/*.safetensors, inputs.safetensors), recomputes
every sample's v_hat, the loss mean over samples of mean((v_hat - target)^2), and the
gradients of the loss with respect to the LoRA and projector weights (jax.grad), then

  * compares them with the dump's outputs.safetensors, printing the largest difference of
    each tensor, and exits 1 when one is outside its tolerance;
  * with --write FILE, saves them (float32) as the reference fixture the Swift tests use.

    python3 -m pip install jax safetensors numpy
    python3 Scripts/reference/uso_reference.py DUMP_DIR [--write DUMP_DIR/reference.safetensors]
"""
import argparse
import json
import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save_file

jax.config.update("jax_enable_x64", True)


# ---------------------------------------------------------------- FLUX layers

def linear(p, name, x):
    y = x @ p[name + ".weight"].T
    if name + ".bias" in p:
        y = y + p[name + ".bias"]
    return y


def lora(p, name, x):
    """USO's LoRA: up(down(x)), no bias, no alpha, weight 1."""
    return (x @ p[name + ".down.weight"].T) @ p[name + ".up.weight"].T


def layer_norm(x, eps=1e-6, weight=None, bias=None):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True)
    y = (x - mean) / jnp.sqrt(var + eps)
    if weight is not None:
        y = y * weight + bias
    return y


def rms_norm(x, scale):
    rrms = 1.0 / jnp.sqrt(jnp.mean(x ** 2, axis=-1, keepdims=True) + 1e-6)
    return x * rrms * scale


def silu(x):
    return x * jax.nn.sigmoid(x)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float64) / half)
    args = t * freqs
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)])


def mlp_embedder(p, name, x):
    return linear(p, name + ".out_layer", silu(linear(p, name + ".in_layer", x)))


def rope(pos, dim, theta):
    scale = jnp.arange(0, dim, 2, dtype=jnp.float64) / dim
    omega = 1.0 / (theta ** scale)
    out = pos[:, None] * omega[None, :]                      # (n, dim/2)
    out = jnp.stack([jnp.cos(out), -jnp.sin(out), jnp.sin(out), jnp.cos(out)], axis=-1)
    return out.reshape(out.shape[0], out.shape[1], 2, 2)     # (n, dim/2, 2, 2)


def embed_nd(ids, axes_dim, theta):
    return jnp.concatenate([rope(ids[:, i], axes_dim[i], theta) for i in range(ids.shape[1])], axis=1)


def apply_rope(x, freqs):
    """x (H, L, D); freqs (L, D/2, 2, 2): rotation of adjacent pairs."""
    x_ = x.reshape(*x.shape[:-1], -1, 1, 2)                  # (H, L, D/2, 1, 2)
    out = freqs[None, :, :, :, 0] * x_[..., 0] + freqs[None, :, :, :, 1] * x_[..., 1]
    return out.reshape(x.shape)


def attention(q, k, v, pe):
    """q, k, v (H, L, D) -> (L, H*D)."""
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    scores = jnp.einsum("hld,hmd->hlm", q, k) / math.sqrt(q.shape[-1])
    out = jnp.einsum("hlm,hmd->hld", jax.nn.softmax(scores, axis=-1), v)
    return jnp.transpose(out, (1, 0, 2)).reshape(q.shape[1], -1)


def qkv_heads(qkv, heads):
    L, width3 = qkv.shape
    d = width3 // 3 // heads
    x = qkv.reshape(L, 3, heads, d)
    x = jnp.transpose(x, (1, 2, 0, 3))                       # (3, H, L, D)
    return x[0], x[1], x[2]


def modulation(p, name, vec, n):
    out = linear(p, name, silu(vec))
    return jnp.split(out, n)


def double_block(p, i, img, txt, vec, pe, cfg):
    b = f"double_blocks.{i}"
    heads = cfg["heads"]
    img_mod = modulation(p, f"{b}.img_mod.lin", vec, 6)
    txt_mod = modulation(p, f"{b}.txt_mod.lin", vec, 6)

    def prepare(x, mod, prefix, lora_index):
        shift, scale = mod[0], mod[1]
        xm = (1 + scale) * layer_norm(x) + shift
        qkv = linear(p, f"{b}.{prefix}_attn.qkv", xm) + lora(p, f"{b}.processor.qkv_lora{lora_index}", xm)
        q, k, v = qkv_heads(qkv, heads)
        q = rms_norm(q, p[f"{b}.{prefix}_attn.norm.query_norm.scale"])
        k = rms_norm(k, p[f"{b}.{prefix}_attn.norm.key_norm.scale"])
        return q, k, v

    iq, ik, iv = prepare(img, img_mod, "img", 1)
    tq, tk, tv = prepare(txt, txt_mod, "txt", 2)
    q = jnp.concatenate([tq, iq], axis=1)
    k = jnp.concatenate([tk, ik], axis=1)
    v = jnp.concatenate([tv, iv], axis=1)
    attn = attention(q, k, v, pe)
    txt_attn, img_attn = attn[: txt.shape[0]], attn[txt.shape[0]:]

    def finish(x, a, mod, prefix, lora_index):
        x = x + mod[2] * (linear(p, f"{b}.{prefix}_attn.proj", a) + lora(p, f"{b}.processor.proj_lora{lora_index}", a))
        xm = (1 + mod[4]) * layer_norm(x) + mod[3]
        h = linear(p, f"{b}.{prefix}_mlp.2", gelu_tanh(linear(p, f"{b}.{prefix}_mlp.0", xm)))
        return x + mod[5] * h

    return finish(img, img_attn, img_mod, "img", 1), finish(txt, txt_attn, txt_mod, "txt", 2)


def single_block(p, i, x, vec, pe, cfg):
    b = f"single_blocks.{i}"
    d, heads = cfg["hiddenSize"], cfg["heads"]
    shift, scale, gate = modulation(p, f"{b}.modulation.lin", vec, 3)
    xm = (1 + scale) * layer_norm(x) + shift
    y1 = linear(p, f"{b}.linear1", xm)
    qkv, mlp = y1[:, : 3 * d], y1[:, 3 * d:]
    qkv = qkv + lora(p, f"{b}.processor.qkv_lora", xm)        # LoRA on the qkv slice only
    q, k, v = qkv_heads(qkv, heads)
    q = rms_norm(q, p[f"{b}.norm.query_norm.scale"])
    k = rms_norm(k, p[f"{b}.norm.key_norm.scale"])
    attn = attention(q, k, v, pe)
    cat = jnp.concatenate([attn, gelu_tanh(mlp)], axis=1)
    out = linear(p, f"{b}.linear2", cat) + lora(p, f"{b}.processor.proj_lora", cat)
    return x + gate * out


def final_layer(p, x, vec):
    shift, scale = jnp.split(linear(p, "final_layer.adaLN_modulation.1", silu(vec)), 2)
    return linear(p, "final_layer.linear", (1 + scale) * layer_norm(x) + shift)


# ---------------------------------------------------------------- USO additions

def projector(p, features):
    """USO's feature_embedder: features (S, 3, N, E), levels high, mid, low -> (S*3*T, D)."""
    out = []
    for s in range(features.shape[0]):
        for level, name in enumerate(["high", "mid", "low"]):
            c = features[s, level]                                 # (N, E)
            pre = f"feature_embedder.{name}"
            u = c.T @ p[f"{pre}_embedding_linear.0.weight"].T + p[f"{pre}_embedding_linear.0.bias"]   # (E, T)
            u = silu(u).T                                           # (T, E)
            u = layer_norm(u, eps=1e-5, weight=p[f"{pre}_layer_norm.weight"], bias=p[f"{pre}_layer_norm.bias"])
            out.append(linear(p, f"{pre}_projection", u))
    return jnp.concatenate(out, axis=0)


def uno_position_ids(style_rows, text_rows, grid, ref_count, ref_grid):
    """Text and style: (0,0,0); noisy (0,i,j); reference k: (0, i+offH, j+offW), diagonal."""
    rows = [[0, 0, 0]] * (style_rows + text_rows)
    rows += [[0, i, j] for i in range(grid[0]) for j in range(grid[1])]
    off_h, off_w = grid
    for _ in range(ref_count):
        rows += [[0, i + off_h, j + off_w] for i in range(ref_grid[0]) for j in range(ref_grid[1])]
        off_h += ref_grid[0]
        off_w += ref_grid[1]
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def predict(p, cfg, sample):
    d = cfg["hiddenSize"]
    style = projector(p, sample["style_features"]) if "style_features" in sample else jnp.zeros((0, d))
    txt = jnp.concatenate([style, linear(p, "txt_in", sample["text"])], axis=0)
    image = sample["noisy"] if "reference" not in sample else jnp.concatenate([sample["noisy"], sample["reference"]], axis=0)
    img = linear(p, "img_in", image)
    vec = mlp_embedder(p, "time_in", timestep_embedding(sample["t"][0], cfg["timeEmbedDim"]))
    if cfg["guidanceEmbed"]:
        vec = vec + mlp_embedder(p, "guidance_in", timestep_embedding(sample["guidance"][0], cfg["timeEmbedDim"]))
    vec = vec + mlp_embedder(p, "vector_in", sample["pooled"])
    pe = embed_nd(sample["ids"], cfg["axesDims"], cfg["theta"])
    for i in range(cfg["doubleBlocks"]):
        img, txt = double_block(p, i, img, txt, vec, pe, cfg)
    x = jnp.concatenate([txt, img], axis=0)
    for i in range(cfg["singleBlocks"]):
        x = single_block(p, i, x, vec, pe, cfg)
    noisy = x[txt.shape[0]: txt.shape[0] + sample["noisy"].shape[0]]
    return final_layer(p, noisy, vec)


# ---------------------------------------------------------------- frozen encoders

def conv_patches(image, weight, bias):
    """A stride-p convolution with kernel p (weight (O, 3, p, p)): image (3, S, S) -> (S/p * S/p, O)."""
    p = weight.shape[-1]
    y = jax.lax.conv_general_dilated(image[None], weight, window_strides=(p, p), padding="VALID",
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]        # (O, S/p, S/p)
    y = y + bias[:, None, None]
    return y.reshape(y.shape[0], -1).T


def vision_transformer(w, prefix, cfg, image):
    """SigLIP's layout: patch conv + positions, pre-LN blocks (tanh-GELU MLP), final LN.
    Returns the hidden states (embeddings, then each layer's output) and the pooled feature."""
    x = conv_patches(image, w[f"{prefix}.embeddings.patch_embedding.weight"], w[f"{prefix}.embeddings.patch_embedding.bias"])
    x = x + w[f"{prefix}.embeddings.position_embedding.weight"]
    heads, e = cfg["heads"], cfg["width"]
    hidden = [x]
    for i in range(cfg["depth"]):
        b = f"{prefix}.encoder.layers.{i}"
        h = layer_norm(x, 1e-6, w[f"{b}.layer_norm1.weight"], w[f"{b}.layer_norm1.bias"])
        q, k, v = (linear(w, f"{b}.self_attn.{n}_proj", h).reshape(-1, heads, e // heads).transpose(1, 0, 2) for n in "qkv")
        scores = jnp.einsum("hld,hmd->hlm", q, k) / math.sqrt(e // heads)
        a = jnp.einsum("hlm,hmd->hld", jax.nn.softmax(scores, axis=-1), v).transpose(1, 0, 2).reshape(-1, e)
        x = x + linear(w, f"{b}.self_attn.out_proj", a)
        h = layer_norm(x, 1e-6, w[f"{b}.layer_norm2.weight"], w[f"{b}.layer_norm2.bias"])
        x = x + linear(w, f"{b}.mlp.fc2", gelu_tanh(linear(w, f"{b}.mlp.fc1", h)))
        hidden.append(x)
    post = layer_norm(x, 1e-6, w[f"{prefix}.post_layernorm.weight"], w[f"{prefix}.post_layernorm.bias"])
    return hidden, jnp.mean(post, axis=0)


def ae_encode(w, cfg, image):
    z = conv_patches(image, w["autoencoder.encoder.patch.weight"], w["autoencoder.encoder.patch.bias"])    # (h*w, C)
    g = cfg["imageSize"] // cfg["factor"]
    z = z.T.reshape(-1, g, g)
    return (z - cfg["shift"]) * cfg["scale"]


def ae_decode(w, cfg, latent):
    c, g, _ = latent.shape
    f = cfg["factor"]
    rows = (latent / cfg["scale"] + cfg["shift"]).reshape(c, -1).T                                  # (h*w, C)
    patches = linear(w, "autoencoder.decoder.fc2", silu(linear(w, "autoencoder.decoder.fc1", rows)))  # (h*w, 3 f f)
    img = patches.reshape(g, g, 3, f, f).transpose(2, 0, 3, 1, 4)                                  # (3, h, f, w, f)
    return img.reshape(3, g * f, g * f)


def text_encode(w, cfg, vocabulary, prompt):
    """Lower-cased words (split on anything but letters and digits), unknown -> <unk>, cut to
    maxTokens - 1, then <end>; states = embedding + 0.5 * [sin, cos] position signal; pooled =
    pool(mean of states)."""
    import re
    index = {word: i for i, word in enumerate(vocabulary)}
    words = [t for t in re.split(r"[^0-9a-z]+", prompt.lower()) if t]
    ids = [index.get(t, 1) for t in words][: cfg["maxTokens"] - 1] + [2]
    width = cfg["width"]
    states = w["text_encoder.token_embedding.weight"][np.array(ids)]
    pos = np.arange(len(ids))[:, None] / (10000.0 ** (2 * np.arange(width // 2)[None, :] / width))
    signal = np.zeros((len(ids), width))
    signal[:, 0::2] = 0.5 * np.sin(pos)
    signal[:, 1::2] = 0.5 * np.cos(pos)
    states = states + signal
    return states, linear(w, "text_encoder.pool", jnp.mean(states, axis=0))


def encoder_results(cfg, dump, samples, specs):
    """Recomputes what the frozen encoders gave the dump, and their two backward paths."""
    w = {}
    for name in ["style_encoder", "autoencoder", "text_encoder"]:
        w.update({k: v.astype(np.float64) for k, v in load_file(str(dump / "weights" / f"{name}.safetensors")).items()})
    from safetensors import safe_open
    with safe_open(str(dump / "weights" / "text_encoder.safetensors"), "np") as f:
        vocabulary = f.metadata()["vocabulary"].split("\n")
    raw = {k: v.astype(np.float64) for k, v in load_file(str(dump / "inputs.safetensors")).items()}
    vit, ae, text = cfg["styleEncoder"], cfg["autoencoder"], cfg["text"]
    out = {}
    for b, (s, spec) in enumerate(zip(samples, specs)):
        if "style_images" in s:
            feats = []
            for img in s["style_images"]:
                hidden, _ = vision_transformer(w, "style_encoder", vit, img)
                feats.append(jnp.stack([hidden[t + 1] for t in vit["taps"]]))
            out[f"sample{b}.style_features"] = jnp.stack(feats)
        states, pooled = text_encode(w, text, vocabulary, spec["prompt"])
        out[f"sample{b}.text"], out[f"sample{b}.pooled"] = states, pooled
    out["autoencoder.latent"] = ae_encode(w, ae, raw["autoencoder.image"])
    latent = out["autoencoder.latent"]
    decoded, vjp = jax.vjp(lambda z: ae_decode(w, ae, z), latent)
    out["autoencoder.decoded"] = decoded
    out["autoencoder.latent_grad"] = vjp(raw["autoencoder.cotangent"])[0]
    pooled, vjp = jax.vjp(lambda im: vision_transformer(w, "style_encoder", vit, im)[1], raw["style_encoder.image"])
    out["style_encoder.pooled"] = pooled
    out["style_encoder.image_grad"] = vjp(raw["style_encoder.pooled_cotangent"])[0]
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


# ---------------------------------------------------------------- driver

def load(dump):
    cfg = json.loads((dump / "config.json").read_text())
    weights = {}
    for name in ["base", "dit_lora", "projector"]:
        weights.update({k: v.astype(np.float64) for k, v in load_file(str(dump / "weights" / f"{name}.safetensors")).items()})
    raw = load_file(str(dump / "inputs.safetensors"))
    from safetensors import safe_open
    with safe_open(str(dump / "inputs.safetensors"), "np") as f:
        specs = json.loads(f.metadata()["samples"])
    samples = []
    for b, spec in enumerate(specs):
        s = {k[len(f"sample{b}."):]: v.astype(np.float64) for k, v in raw.items() if k.startswith(f"sample{b}.")}
        side = cfg["autoencoder"]["imageSize"] // cfg["autoencoder"]["factor"] // 2
        style_rows = spec["styleCount"] * 3 * cfg["projectorTokens"]
        s["ids"] = uno_position_ids(style_rows, s["text"].shape[0], (side, side), spec["referenceCount"], (side, side))
        if not np.array_equal(s["ids"], s["position_ids"]):
            sys.exit(f"sample {b} ({spec['name']}): the dump's position ids differ from UnoPE's")
        samples.append(s)
    return cfg, weights, samples, specs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump", type=pathlib.Path)
    ap.add_argument("--write", type=pathlib.Path, help="save the reference outputs here (float32 safetensors)")
    args = ap.parse_args()
    cfg, weights, samples, specs = load(args.dump)
    dit = cfg["dit"]
    trainable = {k: v for k, v in weights.items() if ".processor." in k or k.startswith("feature_embedder.")}
    frozen = {k: v for k, v in weights.items() if k not in trainable}

    def loss_fn(tr):
        p = {**frozen, **tr}
        losses, outs = [], []
        for s in samples:
            v = predict(p, dit, s)
            outs.append(v)
            losses.append(jnp.mean((v - s["target"]) ** 2))
        return jnp.mean(jnp.stack(losses)), outs

    (loss, outs), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
    result = {"loss": np.array([float(loss)], dtype=np.float32)}
    for b, v in enumerate(outs):
        result[f"sample{b}.v_hat"] = np.asarray(v, dtype=np.float32)
    for k, g in grads.items():
        result["grad." + k] = np.asarray(g, dtype=np.float32)
    print(f"reference: {len(samples)} samples ({', '.join(s['name'] for s in specs)}), loss {float(loss):.8f}")
    result.update(encoder_results(cfg, args.dump, samples, specs))

    swift_path = args.dump / "outputs.safetensors"
    failures = 0
    if swift_path.exists():
        # What Swift computed: its outputs, and the encoder results it fed the model as inputs.
        swift = {**load_file(str(args.dump / "inputs.safetensors")), **load_file(str(swift_path))}
        for k in sorted(result):
            ref, got = result[k].astype(np.float64), swift[k].astype(np.float64)
            diff = np.abs(got - ref)
            scale = np.max(np.abs(ref)) if ref.size else 0.0
            gradient_like = k.startswith("grad.") or k.endswith("_grad")
            tol = 1e-5 + 1e-4 * max(scale, 1e-3) if gradient_like else 1e-5 + 1e-4 * np.abs(ref)
            bad = int(np.sum(diff > tol))
            worst = float(np.max(diff)) if diff.size else 0.0
            failures += bad > 0
            print(f"  {'FAIL' if bad else 'ok  '} {k}: max |swift - reference| {worst:.3g} (max |reference| {scale:.3g})")
        print("swift matches the reference" if failures == 0 else f"{failures} tensors outside tolerance")
    if args.write:
        save_file(result, str(args.write), metadata={"made_by": "Scripts/reference/uso_reference.py", "precision": "float64"})
        print(f"wrote {args.write}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
