// CWebP: decoding WebP files (lossy and lossless, with or without alpha) with Debian's
// libwebp. Its simple decoding API returns status codes, so Swift calls it directly.
// Only `ImageIO` imports this.
#ifndef USO_CWEBP_SHIM_H
#define USO_CWEBP_SHIM_H

#include <webp/decode.h>

#endif
