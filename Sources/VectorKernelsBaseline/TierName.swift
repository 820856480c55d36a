/// The name this tier reports (`uso doctor`, `USO_KERNELS`).
let tierName = "baseline"
