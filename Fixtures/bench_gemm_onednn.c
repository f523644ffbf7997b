/*
 * GEMM throughput of Debian's oneDNN (matmul primitive, fp32 and bf16) and of
 * OpenBLAS (cblas_sgemm) on the shapes of the project's models.
 *
 *     bash Fixtures/bench_gemm_onednn.sh [--runs 20] [--shapes square1024,vit_b8_fc1]
 *
 * The script compiles this file and runs it once per library and thread count
 * (a process each, so one library's spinning worker threads never steal the
 * cores from the other's); it can also be run by hand:
 *
 *     OMP_NUM_THREADS=2 ./bench_gemm_onednn --lib onednn --threads 2 [--runs 20] [--shapes ...] [--no-header]
 *     ./bench_gemm_onednn --lib openblas --threads 1 [...]
 *
 * Every case computes C[M,N] = A[M,K] . W[N,K]^T, the layout of PyTorch's
 * Linear (weights stored [N,K] row-major, activations and output row-major),
 * with A and W uniform in [-1, 1) from a fixed seed. Variants:
 *   onednn bf16        A bf16 (converted once, outside the timing), W bf16
 *                      reordered once to the layout the primitive asks for
 *                      (weights given as format_tag any), C fp32.
 *   onednn bf16+cvt    the same, plus the fp32 -> bf16 reorder of A inside the
 *                      timing: what an fp32 model pays for every call.
 *   onednn bf16>bf16   A bf16 (outside the timing), W bf16 reordered, C bf16.
 *   onednn f32         all fp32, W reordered to the primitive's layout.
 *   onednn f32~bf16    all fp32 with fpmath mode bf16 (the library may round
 *                      to bf16 internally); W reordered.
 *   openblas f32       cblas_sgemm(RowMajor, NoTrans, Trans) on A and W as
 *                      stored, openblas_set_num_threads(--threads).
 * oneDNN uses OpenMP: its thread count is OMP_NUM_THREADS, which must equal
 * --threads. Primitives, reorders of W and buffers are made once per case,
 * outside the timing; the data stays warm in the caches between runs.
 *
 * Each variant runs 3 warm-up calls, then --runs timed calls (default 20);
 * GFLOP/s is 2*M*N*K / median time. After the timing, 64 sampled entries of C
 * are compared with a double-precision sum over the fp32 A and W; `err` is the
 * largest |C - ref| / sum_k |A[i,k] W[j,k]| (about 1e-7 for fp32, 1e-4 to 1e-3
 * for bf16 inputs; a wrong layout gives ~1).
 *
 * Prints lines starting with '#' (library version, the ISA oneDNN dispatches
 * to, OpenBLAS's core and config), one text row per (shape, variant) with the
 * implementation oneDNN picked and whether W's reordered layout is blocked,
 * and one JSON object per row.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP 3
#define SAMPLES 64
#define MAX_RUNS 1000

#define CHECK(call)                                                              \
    do {                                                                         \
        dnnl_status_t status_ = (call);                                          \
        if (status_ != dnnl_success) {                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                    dnnl_status2str(status_));                                   \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

struct shape {
    const char *name;
    long m, n, k;
};

/* M x K . [N x K]^T of square matrices and of the Linear layers of the project's models. */
static const struct shape shapes[] = {
    {"square1024", 1024, 1024, 1024},
    {"square2048", 2048, 2048, 2048},
    {"vit_b1_proj", 197, 768, 768},
    {"vit_b1_fc1", 197, 3072, 768},
    {"vit_b1_fc2", 197, 768, 3072},
    {"vit_b8_qkv", 1576, 2304, 768},
    {"vit_b8_fc1", 1576, 3072, 768},
    {"vit_b8_fc2", 1576, 768, 3072},
    {"whisper_qkv", 1500, 1536, 512},
    {"whisper_fc1", 1500, 2048, 512},
    {"whisper_fc2", 1500, 512, 2048},
    {"esm650m_qkv", 1026, 3840, 1280},
    {"esm650m_fc1", 1026, 5120, 1280},
    {"esm650m_fc2", 1026, 1280, 5120},
    {"minilm_qkv", 4096, 1152, 384},
    {"minilm_fc1", 4096, 1536, 384},
    {"minilm_fc2", 4096, 384, 1536},
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *checked_alloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* xorshift64* uniform in [-1, 1). */
static void fill_uniform(float *x, size_t count, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < count; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545F4914F6CDD1Dull;
        x[i] = (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
    }
}

struct problem {
    long m, n, k;
    const float *a; /* [M, K] */
    const float *w; /* [N, K] */
    long rows[SAMPLES], cols[SAMPLES];
    double ref[SAMPLES];   /* sum_k a[i,k] w[j,k] in double */
    double scale[SAMPLES]; /* sum_k |a[i,k] w[j,k]| */
};

static void sample_reference(struct problem *p) {
    uint64_t s = 12345;
    for (int t = 0; t < SAMPLES; t++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        long i = (long)((s >> 33) % (uint64_t)p->m);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        long j = (long)((s >> 33) % (uint64_t)p->n);
        if (t == 0) i = 0, j = 0;
        if (t == 1) i = p->m - 1, j = p->n - 1;
        double sum = 0, abs_sum = 0;
        for (long q = 0; q < p->k; q++) {
            double v = (double)p->a[i * p->k + q] * (double)p->w[j * p->k + q];
            sum += v;
            abs_sum += fabs(v);
        }
        p->rows[t] = i;
        p->cols[t] = j;
        p->ref[t] = sum;
        p->scale[t] = abs_sum;
    }
}

static double bf16_to_double(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Largest sampled |C - ref| / sum|a w|; C is [M, N] row-major fp32 or bf16. */
static double max_error(const struct problem *p, const void *c, int c_is_bf16) {
    double worst = 0;
    for (int t = 0; t < SAMPLES; t++) {
        size_t at = (size_t)p->rows[t] * (size_t)p->n + (size_t)p->cols[t];
        double v = c_is_bf16 ? bf16_to_double(((const uint16_t *)c)[at]) : ((const float *)c)[at];
        double e = fabs(v - p->ref[t]) / (p->scale[t] > 0 ? p->scale[t] : 1);
        if (!(e <= worst)) worst = e; /* NaN wins */
    }
    return worst;
}

struct timing {
    double median_s, min_s;
};

typedef void (*run_fn)(void *context);

static struct timing time_runs(run_fn fn, void *context, int runs) {
    double times[MAX_RUNS];
    for (int r = 0; r < WARMUP; r++) fn(context);
    for (int r = 0; r < runs; r++) {
        double start = now_seconds();
        fn(context);
        times[r] = now_seconds() - start;
    }
    qsort(times, (size_t)runs, sizeof times[0], compare_doubles);
    struct timing t;
    t.median_s = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
    t.min_s = times[0];
    return t;
}

static int print_header = 1;

static void report(const char *lib, const char *variant, int threads, const struct shape *s, struct timing t, int runs,
                   double err, const char *impl, const char *weights_layout) {
    double gflops = 2.0 * (double)s->m * (double)s->n * (double)s->k / t.median_s * 1e-9;
    printf("%-12s %5ld %5ld %5ld  %-8s %-16s %2d %9.3f %9.3f %8.1f %9.2e  %s w=%s\n", s->name, s->m, s->n, s->k, lib,
           variant, threads, 1e3 * t.median_s, 1e3 * t.min_s, gflops, err, impl, weights_layout);
    printf("{\"shape\": \"%s\", \"M\": %ld, \"N\": %ld, \"K\": %ld, \"lib\": \"%s\", \"variant\": \"%s\", "
           "\"threads\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"gflops\": %.2f, \"runs\": %d, "
           "\"max_err\": %.3e, \"impl\": \"%s\", \"weights\": \"%s\"}\n",
           s->name, s->m, s->n, s->k, lib, variant, threads, 1e3 * t.median_s, 1e3 * t.min_s, gflops, runs, err,
           impl, weights_layout);
    fflush(stdout);
}

/* ---- OpenBLAS ---- */

struct sgemm_context {
    const struct problem *p;
    float *c;
};

static void run_sgemm(void *context) {
    struct sgemm_context *x = context;
    const struct problem *p = x->p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->m, (int)p->n, (int)p->k, 1.0f, p->a, (int)p->k,
                p->w, (int)p->k, 0.0f, x->c, (int)p->n);
}

static void bench_openblas(const struct shape *s, const struct problem *p, int threads, int runs) {
    float *c = checked_alloc(sizeof(float) * (size_t)(s->m * s->n)); /* [M, N] */
    struct sgemm_context x = {p, c};
    struct timing t = time_runs(run_sgemm, &x, runs);
    report("openblas", "f32", threads, s, t, runs, max_error(p, c, 0), "cblas_sgemm", "plain");
    free(c);
}

/* ---- oneDNN ---- */

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static void reorder_once(dnnl_memory_t from, dnnl_memory_t to) {
    const dnnl_memory_desc_t *from_md, *to_md;
    CHECK(dnnl_memory_get_memory_desc(from, &from_md));
    CHECK(dnnl_memory_get_memory_desc(to, &to_md));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, NULL));
    dnnl_primitive_t prim;
    CHECK(dnnl_primitive_create(&prim, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(prim, stream, 2, args));
    CHECK(dnnl_stream_wait(stream));
    CHECK(dnnl_primitive_destroy(prim));
    CHECK(dnnl_primitive_desc_destroy(pd));
}

struct matmul_context {
    dnnl_primitive_t matmul;
    dnnl_exec_arg_t args[4]; /* src, weights, dst, scratchpad */
    int nargs;
    dnnl_primitive_t convert; /* fp32 -> bf16 reorder of A, or NULL */
    dnnl_exec_arg_t convert_args[2];
};

static void run_matmul(void *context) {
    struct matmul_context *x = context;
    if (x->convert) CHECK(dnnl_primitive_execute(x->convert, stream, 2, x->convert_args));
    CHECK(dnnl_primitive_execute(x->matmul, stream, x->nargs, x->args));
    CHECK(dnnl_stream_wait(stream));
}

/*
 * One oneDNN matmul case: `in` is the type of A and W, `out` of C, `fpmath` the
 * attribute's math mode; `convert_in_timing` adds A's fp32 -> bf16 reorder to
 * every timed call.
 */
static void bench_onednn(const struct shape *s, const struct problem *p, int threads, int runs, const char *variant,
                         dnnl_data_type_t in, dnnl_data_type_t out, dnnl_fpmath_mode_t fpmath, int convert_in_timing) {
    dnnl_dims_t a_dims = {s->m, s->k}, w_dims = {s->k, s->n}, c_dims = {s->m, s->n};
    dnnl_memory_desc_t a32_md, a_md, w32_md, w_plain_md, w_any_md, c_md;
    CHECK(dnnl_memory_desc_init_by_tag(&a32_md, 2, a_dims, dnnl_f32, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, in, dnnl_ab));
    /* W[N, K] row-major is the [K, N] weights tensor with tag ba. */
    CHECK(dnnl_memory_desc_init_by_tag(&w32_md, 2, w_dims, dnnl_f32, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&w_plain_md, 2, w_dims, in, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&w_any_md, 2, w_dims, in, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, out, dnnl_ab));

    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a_md, &w_any_md, NULL, &c_md));
    dnnl_primitive_attr_t attr;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    CHECK(dnnl_primitive_attr_set_fpmath_mode(attr, fpmath));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
    CHECK(dnnl_primitive_attr_destroy(attr));
    const char *impl = "?";
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    const char *weights_layout = dnnl_memory_desc_equal(w_md, &w_plain_md) ? "plain" : "blocked";

    dnnl_memory_t a32_mem, a_mem, w32_mem, w_mem, c_mem, scratch_mem;
    CHECK(dnnl_memory_create(&a32_mem, &a32_md, engine, (void *)p->a));
    CHECK(dnnl_memory_create(&w32_mem, &w32_md, engine, (void *)p->w));
    CHECK(dnnl_memory_create(&a_mem, &a_md, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&w_mem, w_md, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&c_mem, &c_md, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&scratch_mem, scratch_md, engine, DNNL_MEMORY_ALLOCATE));
    reorder_once(w32_mem, w_mem); /* fp32 [N, K] -> the primitive's layout and type, once */
    reorder_once(a32_mem, a_mem);

    struct matmul_context x;
    memset(&x, 0, sizeof x);
    CHECK(dnnl_primitive_create(&x.matmul, pd));
    x.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, a_mem};
    x.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w_mem};
    x.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, c_mem};
    x.args[3] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch_mem};
    x.nargs = 4;
    dnnl_primitive_desc_t convert_pd = NULL;
    if (convert_in_timing) {
        CHECK(dnnl_reorder_primitive_desc_create(&convert_pd, &a32_md, engine, &a_md, engine, NULL));
        CHECK(dnnl_primitive_create(&x.convert, convert_pd));
        x.convert_args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, a32_mem};
        x.convert_args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, a_mem};
    }

    struct timing t = time_runs(run_matmul, &x, runs);
    void *c = NULL;
    CHECK(dnnl_memory_get_data_handle(c_mem, &c));
    report("onednn", variant, threads, s, t, runs, max_error(p, c, out == dnnl_bf16), impl, weights_layout);

    if (x.convert) {
        CHECK(dnnl_primitive_destroy(x.convert));
        CHECK(dnnl_primitive_desc_destroy(convert_pd));
    }
    CHECK(dnnl_primitive_destroy(x.matmul));
    CHECK(dnnl_primitive_desc_destroy(pd));
    dnnl_memory_t mems[] = {a32_mem, a_mem, w32_mem, w_mem, c_mem, scratch_mem};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) CHECK(dnnl_memory_destroy(mems[i]));
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench_gemm_onednn --lib onednn|openblas --threads T [--runs R] [--shapes a,b] "
                    "[--no-header]\n(oneDNN takes its thread count from OMP_NUM_THREADS, which must equal T)\n");
    exit(2);
}

static int selected(const char *list, const char *name) {
    if (!list) return 1;
    size_t len = strlen(name);
    for (const char *at = list; *at;) {
        const char *end = strchr(at, ',');
        size_t n = end ? (size_t)(end - at) : strlen(at);
        if (n == len && strncmp(at, name, n) == 0) return 1;
        if (!end) break;
        at = end + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *lib = NULL, *shape_list = NULL;
    int threads = 0, runs = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lib") && i + 1 < argc) lib = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc) shape_list = argv[++i];
        else if (!strcmp(argv[i], "--no-header")) print_header = 0;
        else usage();
    }
    if (!lib || threads < 1 || runs < 1 || runs > MAX_RUNS) usage();
    int use_onednn = !strcmp(lib, "onednn");
    if (!use_onednn && strcmp(lib, "openblas")) usage();

    if (use_onednn) {
        const char *omp = getenv("OMP_NUM_THREADS");
        if (!omp || atoi(omp) != threads) {
            fprintf(stderr, "OMP_NUM_THREADS must be %d for oneDNN\n", threads);
            return 2;
        }
        const dnnl_version_t *v = dnnl_version();
        printf("# oneDNN %d.%d.%d (cpu runtime %s), effective ISA %s\n", v->major, v->minor, v->patch,
               v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other", isa_name(dnnl_get_effective_cpu_isa()));
        CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
        CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    } else {
        openblas_set_num_threads(threads);
        printf("# OpenBLAS core %s, config: %s\n", openblas_get_corename(), openblas_get_config());
    }
    if (print_header)
        printf("%-12s %5s %5s %5s  %-8s %-16s %2s %9s %9s %8s %9s  %s\n", "shape", "M", "N", "K", "lib", "variant",
               "th", "median_ms", "min_ms", "GFLOP/s", "err", "implementation");
    fflush(stdout);

    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const struct shape *s = &shapes[si];
        if (!selected(shape_list, s->name)) continue;
        float *a = checked_alloc(sizeof(float) * (size_t)(s->m * s->k)); /* [M, K] */
        float *w = checked_alloc(sizeof(float) * (size_t)(s->n * s->k)); /* [N, K] */
        fill_uniform(a, (size_t)(s->m * s->k), 1 + si);
        fill_uniform(w, (size_t)(s->n * s->k), 1000 + si);
        struct problem p = {.m = s->m, .n = s->n, .k = s->k, .a = a, .w = w};
        sample_reference(&p);
        if (use_onednn) {
            bench_onednn(s, &p, threads, runs, "bf16", dnnl_bf16, dnnl_f32, dnnl_fpmath_mode_strict, 0);
            bench_onednn(s, &p, threads, runs, "bf16+cvt", dnnl_bf16, dnnl_f32, dnnl_fpmath_mode_strict, 1);
            bench_onednn(s, &p, threads, runs, "bf16>bf16", dnnl_bf16, dnnl_bf16, dnnl_fpmath_mode_strict, 0);
            bench_onednn(s, &p, threads, runs, "f32", dnnl_f32, dnnl_f32, dnnl_fpmath_mode_strict, 0);
            bench_onednn(s, &p, threads, runs, "f32~bf16", dnnl_f32, dnnl_f32, dnnl_fpmath_mode_bf16, 0);
        } else {
            bench_openblas(s, &p, threads, runs);
        }
        free(a);
        free(w);
    }
    if (use_onednn) {
        CHECK(dnnl_stream_destroy(stream));
        CHECK(dnnl_engine_destroy(engine));
    }
    return 0;
}
