#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* PNG decoding for mmattn. libpng reports errors by longjmp, which Swift cannot take part in, so
 * the whole read happens in one C function that owns the setjmp. It returns rows of samples
 * (de-interlaced) with only these libpng transforms applied:
 *   - 16-bit RGB, RGBA and gray+alpha samples keep their high byte (png_set_strip_16 chops, it
 *     does not round), as Pillow reads them;
 *   - alpha channels are stripped (Pillow's convert("RGB") drops alpha without compositing).
 * 16-bit gray stays 16-bit (Pillow clamps it to 255 instead), low bit depths stay packed, and
 * palette images stay indices: Swift does those conversions. No gamma, no tRNS expansion. */

typedef struct {
    /* IHDR, as stored in the file. */
    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    /* Layout of `pixels` after the transforms above. */
    int out_bit_depth, out_channels;
    size_t rowbytes;
    /* height * rowbytes bytes from malloc; free with mmattn_png_free. NULL on failure. */
    unsigned char *pixels;
    int num_palette;
    unsigned char palette[256 * 3];
    /* Why the read failed: 0 none, 1 ran past the end of the data, 2 over the pixel budget,
     * 3 libpng error (see message), 4 out of memory. */
    int failure;
    char message[256];
} mmattn_png_result;

typedef struct {
    const unsigned char *data;
    size_t size, offset;
    mmattn_png_result *result;
} mmattn_png_source;

static void mmattn_png_error(png_structp png, png_const_charp message) {
    mmattn_png_source *source = (mmattn_png_source *)png_get_error_ptr(png);
    if (source->result->failure == 0) {
        source->result->failure = 3;
        strncpy(source->result->message, message ? message : "unknown error", sizeof source->result->message - 1);
        source->result->message[sizeof source->result->message - 1] = 0;
    }
    png_longjmp(png, 1);
}

static void mmattn_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void mmattn_png_read_data(png_structp png, png_bytep out, size_t length) {
    mmattn_png_source *source = (mmattn_png_source *)png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        source->result->failure = 1;
        png_error(png, "unexpected end of file");
    }
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

/* Whether every chunk before the first IDAT fits in the data. libpng allocates a chunk's buffer
 * from its declared length before reading it (a 162-byte file whose iTXt declares 2 GB had it
 * allocate 2 GB), so those lengths are checked against the bytes that are there first. IDAT data
 * is streamed, not buffered by its length, and nothing after it is read. */
static inline int mmattn_png_chunks_fit(const unsigned char *data, size_t size) {
    size_t at = 8;  /* past the signature */
    while (size - at >= 8) {
        png_uint_32 length = png_get_uint_32(data + at);
        if (memcmp(data + at + 4, "IDAT", 4) == 0) return 1;
        if (length > size - at - 8 || size - at - 8 - length < 4) return 0;  /* data, then a 4-byte CRC */
        at += 12 + (size_t)length;
    }
    return 1;  /* ends inside a chunk header: libpng reports that */
}

/* Decode `size` bytes of PNG data. Refuses images of more than `max_pixels` pixels before
 * allocating their rows. Returns 0 on success, -1 on failure (result->failure says why). */
static inline int mmattn_png_decode(const unsigned char *data, size_t size, unsigned long long max_pixels,
                                    mmattn_png_result *result) {
    mmattn_png_source source = {data, size, 0, result};
    memset(result, 0, sizeof *result);
    if (size < 8 || !mmattn_png_chunks_fit(data, size)) {
        result->failure = 1;
        return -1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, mmattn_png_error, mmattn_png_warning);
    if (!png) {
        result->failure = 4;
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        result->failure = 4;
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        /* `result` lives in the caller's memory, so its fields are current after the jump. */
        free(result->pixels);
        result->pixels = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, &source, mmattn_png_read_data);
    /* The PNG limit is 2^31-1 per side; mmattn's own pixel budget decides what is too large. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    /* Ancillary chunks (iCCP, zTXt, iTXt, eXIf, sPLT, unknown ones) are read into buffers that
     * libpng sizes from their own claims: a 162-byte PNG whose iCCP profile declares 2 GB had it
     * allocate 2 GB. None of them changes the RGB pixels (Pillow's convert("RGB") applies no
     * profile), so each is held to 8 MiB and 1000 of them at most; past that libpng drops them. */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_cache_max(png, 1000);
    png_read_info(png, info);
    int interlace_type, compression, filter;
    png_get_IHDR(png, info, &result->width, &result->height, &result->bit_depth, &result->color_type,
                 &interlace_type, &compression, &filter);
    result->interlace = interlace_type != PNG_INTERLACE_NONE;
    if ((unsigned long long)result->width * result->height > max_pixels) {
        result->failure = 2;
        png_error(png, "pixel budget exceeded");
    }
    if (result->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette = NULL;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) == PNG_INFO_PLTE && palette) {
            if (count > 256) count = 256;
            for (int i = 0; i < count; i++) {
                result->palette[3 * i] = palette[i].red;
                result->palette[3 * i + 1] = palette[i].green;
                result->palette[3 * i + 2] = palette[i].blue;
            }
            result->num_palette = count;
        }
    }
    if (result->bit_depth == 16 && result->color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
    if (result->color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    result->out_bit_depth = png_get_bit_depth(png, info);
    result->out_channels = png_get_channels(png, info);
    result->rowbytes = png_get_rowbytes(png, info);
    if (result->rowbytes == 0 || (size_t)result->height > (size_t)-1 / result->rowbytes) {
        result->failure = 4;
        png_error(png, "image too large");
    }
    /* calloc: rows of an interlaced image are combined into what earlier passes left. */
    result->pixels = (unsigned char *)calloc((size_t)result->height, result->rowbytes);
    if (!result->pixels) {
        result->failure = 4;
        png_error(png, "out of memory");
    }
    for (int pass = 0; pass < passes; pass++) {
        for (png_uint_32 y = 0; y < result->height; y++) {
            png_read_row(png, result->pixels + (size_t)y * result->rowbytes, NULL);
        }
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

static inline void mmattn_png_free(mmattn_png_result *result) {
    free(result->pixels);
    result->pixels = NULL;
}
