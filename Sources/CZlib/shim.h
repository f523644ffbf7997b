/* zlib's deflate, for the compressed attention data of the HTML viewer (browsers inflate it with
 * DecompressionStream("deflate"), which reads the zlib format compress2 writes). */
#include <zlib.h>
