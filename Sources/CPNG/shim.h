// CPNG: libpng's simplified API (png_image), which reports errors in the image struct
// instead of through longjmp, so Swift can call it directly. Only `ImageIO` imports this.
#ifndef USO_CPNG_SHIM_H
#define USO_CPNG_SHIM_H

#include <png.h>

static inline png_uint_32 cpng_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline png_uint_32 cpng_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline png_uint_32 cpng_image_version(void) { return PNG_IMAGE_VERSION; }
static inline int cpng_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }

#endif
