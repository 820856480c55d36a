// CMPI: Open MPI's C API for Swift.
//
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over
// globals of incomplete struct type, which Swift cannot import. Each is
// re-exported here as a static inline function returning the handle. Only the
// `Comm` module imports this; nothing else sees an MPI handle.
#ifndef USO_CMPI_SHIM_H
#define USO_CMPI_SHIM_H

#include <mpi.h>

// Communicators, requests, status.
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cmpi_comm_self(void) { return MPI_COMM_SELF; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }

// Datatypes.
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype cmpi_uint64(void) { return MPI_UINT64_T; }

// Reduction operations.
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }

// Integer constants (plain macros, re-exported for symmetry and clarity).
static inline int cmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int cmpi_any_tag(void) { return MPI_ANY_TAG; }
static inline int cmpi_undefined(void) { return MPI_UNDEFINED; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
static inline int cmpi_tag_ub_keyval(void) { return MPI_TAG_UB; }

// Status fields (the struct layout is implementation-defined; read through these).
static inline int cmpi_status_source(const MPI_Status *s) { return s->MPI_SOURCE; }
static inline int cmpi_status_tag(const MPI_Status *s) { return s->MPI_TAG; }
static inline int cmpi_status_error(const MPI_Status *s) { return s->MPI_ERROR; }

#endif
