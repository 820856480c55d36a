// CZlib: zlib's crc32, the checksum of shard datasets (Python's zlib.crc32 checks it too).
// Only `TripletData` imports this.
#ifndef USO_CZLIB_SHIM_H
#define USO_CZLIB_SHIM_H

#include <zlib.h>

#endif
