// CBLAS: OpenBLAS's CBLAS interface and its runtime controls
// (openblas_get_config, openblas_get_num_threads, openblas_set_num_threads,
// openblas_get_corename), all declared by Debian's cblas.h. CBLAS enums import
// directly, so no wrappers are needed. Only the `TensorCore` module imports this.
#ifndef USO_CBLAS_SHIM_H
#define USO_CBLAS_SHIM_H

#include <cblas.h>

#endif
