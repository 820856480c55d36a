// CHDF5: the HDF5 C library (serial build) for Swift.
//
// HDF5's type and property handles (H5T_NATIVE_FLOAT, H5F_ACC_TRUNC, ...) are
// comma-expression macros that call H5open(); Swift imports none of them. Each
// is re-exported here as a static inline function. Only `HDF5Kit` imports this.
#ifndef USO_CHDF5_SHIM_H
#define USO_CHDF5_SHIM_H

#include <hdf5.h>
#include <stdio.h>

// File access flags.
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_rdwr(void) { return H5F_ACC_RDWR; }

// Default property list and dataspace selectors.
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }

// Property list classes.
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_link_create(void) { return H5P_LINK_CREATE; }

// Native and standard types.
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t chdf5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t chdf5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t chdf5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t chdf5_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t chdf5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_ieee_f64le(void) { return H5T_IEEE_F64LE; }

// Variable-length size marker.
static inline size_t chdf5_variable(void) { return H5T_VARIABLE; }

// Error stack: the default stack id, and its messages as one string.
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }

typedef struct { char *buffer; size_t size; size_t used; } chdf5_error_text;

static inline herr_t chdf5_error_walker(unsigned n, const H5E_error2_t *e, void *data) {
    chdf5_error_text *t = (chdf5_error_text *)data;
    (void)n;
    if (t->used + 4 >= t->size || e->desc == NULL) return 0;
    int written = snprintf(t->buffer + t->used, t->size - t->used, "%s%s", t->used ? "; " : "", e->desc);
    if (written > 0) t->used += (size_t)written < t->size - t->used ? (size_t)written : t->size - t->used - 1;
    return 0;
}

/// Writes the current error stack's descriptions, outermost first, into buffer; then clears it.
static inline void chdf5_error_stack(char *buffer, size_t size) {
    chdf5_error_text t = { buffer, size, 0 };
    if (size) buffer[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, chdf5_error_walker, &t);
    H5Eclear2(H5E_DEFAULT);
}

/// Stops HDF5 from printing its error stack to stderr (errors come back as return values).
static inline void chdf5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
