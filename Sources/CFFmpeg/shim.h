#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/pixdesc.h>

/* FFmpeg for mmattn's video decoder. These constants are function-like or casted macros, which
 * Swift does not import, so they are restated here as functions. */

static inline int mmattn_averror_eof(void) { return AVERROR_EOF; }
static inline int mmattn_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int mmattn_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int mmattn_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int64_t mmattn_nopts(void) { return AV_NOPTS_VALUE; }
static inline int mmattn_disposition_attached_pic(void) { return AV_DISPOSITION_ATTACHED_PIC; }
