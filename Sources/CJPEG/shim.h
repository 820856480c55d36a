// CJPEG: decoding a JPEG file to 8-bit RGB, and encoding one, with libjpeg(-turbo).
// libjpeg reports errors by longjmp, which Swift cannot catch, so the setjmp lives here
// in C and errors come back as a message. Only `ImageIO` imports this.
#ifndef USO_CJPEG_SHIM_H
#define USO_CJPEG_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} cjpeg_error_manager;

static inline void cjpeg_error_exit(j_common_ptr info) {
    cjpeg_error_manager *m = (cjpeg_error_manager *)info->err;
    (*info->err->format_message)(info, m->message);
    longjmp(m->jump, 1);
}

static inline void cjpeg_silent(j_common_ptr info, int level) { (void)info; (void)level; }

/// Decodes `path`; on success returns 0 with *pixels (malloc'ed RGB, free it), *width,
/// *height; on failure returns nonzero with a message in `error`.
static inline int cjpeg_decode_file(const char *path, unsigned char **pixels, int *width, int *height,
                                    char *error, size_t error_size) {
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(error, error_size, "cannot open the file"); return 1; }
    struct jpeg_decompress_struct info;
    cjpeg_error_manager err;
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = cjpeg_error_exit;
    err.base.emit_message = cjpeg_silent;
    unsigned char *volatile out = NULL;
    if (setjmp(err.jump)) {
        snprintf(error, error_size, "%s", err.message);
        jpeg_destroy_decompress(&info);
        fclose(f);
        free(out);
        return 2;
    }
    jpeg_create_decompress(&info);
    jpeg_stdio_src(&info, f);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    size_t stride = (size_t)info.output_width * 3;
    out = (unsigned char *)malloc(stride * info.output_height);
    if (!out) { snprintf(error, error_size, "out of memory"); jpeg_destroy_decompress(&info); fclose(f); return 3; }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = out + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    fclose(f);
    *pixels = out;
    return 0;
}

/// Encodes RGB pixels to `path` at `quality`; returns 0 on success, else a message in `error`.
static inline int cjpeg_encode_file(const char *path, const unsigned char *pixels, int width, int height, int quality,
                                    char *error, size_t error_size) {
    FILE *f = fopen(path, "wb");
    if (!f) { snprintf(error, error_size, "cannot create the file"); return 1; }
    struct jpeg_compress_struct info;
    cjpeg_error_manager err;
    info.err = jpeg_std_error(&err.base);
    err.base.error_exit = cjpeg_error_exit;
    err.base.emit_message = cjpeg_silent;
    if (setjmp(err.jump)) {
        snprintf(error, error_size, "%s", err.message);
        jpeg_destroy_compress(&info);
        fclose(f);
        return 2;
    }
    jpeg_create_compress(&info);
    jpeg_stdio_dest(&info, f);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = 3;
    info.in_color_space = JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)info.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    if (fclose(f) != 0) { snprintf(error, error_size, "cannot finish writing the file"); return 3; }
    return 0;
}

#endif
