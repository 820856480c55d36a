#!/usr/bin/env python3
"""Writes Tests/SafeTensorsTests/Fixtures/mixed_dtypes.safetensors with the `safetensors`
package: F32, F16 and BF16 tensors, and beside each reduced-precision tensor its values
converted to float32 by numpy/ml_dtypes ("<name>_as_f32"), which the Swift reader must
reproduce exactly.

    python3 -m pip install safetensors ml_dtypes numpy
    python3 Scripts/make_safetensors_fixture.py
"""
import pathlib

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/SafeTensorsTests/Fixtures/mixed_dtypes.safetensors"


def main() -> None:
    rng = np.random.default_rng(7)
    base = np.concatenate([
        np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-05, 5.96e-08, 1e-3, 3.14159265, -1e5, 7e-39], dtype=np.float32),
        rng.standard_normal(53).astype(np.float32) * 3,
    ])
    f16 = base.astype(np.float16)
    bf16 = base.astype(ml_dtypes.bfloat16)
    tensors = {
        "values_f32": base.reshape(8, 8),
        "values_f16": f16.reshape(4, 16),
        "values_f16_as_f32": f16.astype(np.float32).reshape(4, 16),
        "values_bf16": bf16.reshape(2, 32),
        "values_bf16_as_f32": bf16.astype(np.float32).reshape(2, 32),
        "empty_f32": np.zeros((0, 3), dtype=np.float32),
        "scalar_f32": np.array(42.5, dtype=np.float32),
    }
    save_file(tensors, str(OUT), metadata={"made_by": "Scripts/make_safetensors_fixture.py"})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
