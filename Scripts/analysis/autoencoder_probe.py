#!/usr/bin/env python3
"""What the small autoencoder can and cannot be blamed for, from its weights and a triplet shard.

Reads autoencoder.safetensors (encoder: a stride-f linear patch map to C channels; decoder: a
per-latent-pixel MLP back to the f x f patch) with the safetensors package, re-implements
encode and decode in numpy, and prints for the first N targets of the shard:
  * reconstruction PSNR (dB, 0-255 pixels) and that of the best linear C-channel code of the
    same patches (PCA): how far the fitted autoencoder is from its linear bound;
  * the decoder's gain per latent channel (pixel RMS per unit latent change) and the PSNR after
    Gaussian latent noise: how much a DiT's latent error is amplified into pixels;
  * the subject's share of the content references' pixels (differing by > 40 of 255 from the
    corner background): how much of the flow loss the content reference can inform.

    python3 Scripts/analysis/autoencoder_probe.py runs/demo/base/weights runs/demo/data/triplets/triplets-00000.h5
"""
import sys

import h5py
import numpy as np
from safetensors.numpy import load_file


def main(weights, shard, n=64):
    w = load_file(f"{weights}/autoencoder.safetensors")
    enc = w["autoencoder.encoder.patch.weight"]
    c, f = enc.shape[0], enc.shape[2]
    W, b = enc.reshape(c, -1), w["autoencoder.encoder.patch.bias"]
    W1, b1 = w["autoencoder.decoder.fc1.weight"], w["autoencoder.decoder.fc1.bias"]
    W2, b2 = w["autoencoder.decoder.fc2.weight"], w["autoencoder.decoder.fc2.bias"]
    with h5py.File(shard, "r") as h:
        targets = h["target"][:n].astype(np.float32) / 127.5 - 1
        content = h["content_reference"][:200].astype(np.float32)
    s = targets.shape[1]
    g = s // f
    # Patches in the Swift order: (channel, row in patch, column in patch) per patch, patches row-major.
    x = targets.transpose(0, 3, 1, 2).reshape(-1, 3, g, f, g, f).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 3 * f * f)
    z = x @ W.T + b

    def decode(z):
        h = z @ W1.T + b1
        return (h / (1 + np.exp(-h))) @ W2.T + b2

    def psnr(a, b):
        return 10 * np.log10(4 / ((a - b) ** 2).mean())

    rec = decode(z)
    _, sv, _ = np.linalg.svd(x - x.mean(0), full_matrices=False)
    pca_mse = (sv[c:] ** 2).sum() / x.size
    print(f"{n} targets of {shard}: reconstruction {psnr(rec, x):.2f} dB; best linear {c}-channel code (PCA) {10 * np.log10(4 / pca_mse):.2f} dB")
    print("latent std per channel:", " ".join(f"{v:.3f}" for v in z.std(0)))
    gains = []
    for ch in range(c):
        dz = np.zeros_like(z)
        dz[:, ch] = 0.1
        gains.append(np.sqrt(((decode(z + dz) - rec) ** 2).mean()) / 0.1)
    print("decoder gain per channel (pixel RMS per unit latent, [-1, 1] pixels):", " ".join(f"{v:.2f}" for v in gains))
    rng = np.random.default_rng(0)
    for sigma in (0.05, 0.1, 0.2):
        print(f"  latent noise sigma {sigma}: {psnr(decode(z + rng.standard_normal(z.shape) * sigma), x):.2f} dB")
    corners = np.concatenate([content[:, :4, :4], content[:, -4:, -4:], content[:, :4, -4:], content[:, -4:, :4]], axis=1)
    background = np.median(corners.reshape(len(content), -1, 3), axis=1)
    share = (np.abs(content - background[:, None, None, :]).max(-1) > 40).mean((1, 2))
    print(f"subject share of {len(content)} content references' pixels: mean {share.mean():.3f}, median {np.median(share):.3f}, "
          f"10th percentile {np.percentile(share, 10):.3f}, 90th {np.percentile(share, 90):.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
