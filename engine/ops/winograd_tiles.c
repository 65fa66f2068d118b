/* Winograd F(4x4,3x3) and F(6x6,3x3) tile transforms for engine/ops/winograd.py, built on first use by
 * engine/ops/native.py.
 *
 * The torch route of F(4x4,3x3) gathers each band's 6x6 input tiles with a strided copy, then applies
 * B^T over tile rows and columns as two small matrix products, and A^T the same way back: four passes
 * over buffers 36/16 the size of the band. Here one pass per tile reads its (m+2)x(m+2) patch (zeros
 * outside the map: the conv's own padding), transforms it in registers and writes V; another reads M
 * and writes the m x m outputs (bias, leaky ReLU, crop) straight into the channels_last output.
 *
 * Layouts (float32): the input and output are channels_last maps addressed per "image" by an
 * element offset, a row stride and a column stride; channels are contiguous. A dilated conv is the
 * same maths on each of its d x d interleaved sub-grids: one image each, strides d times larger.
 * V and M hold transform point k = (m+2) * a + b of tile t at k * point_stride + t * tile_stride
 * (channels contiguous), tile = (image * band_rows + row) * tiles_per_row + column: torch.bmm reads
 * V as [(m+2)^2][tiles][channels] through those strides. Channels run in blocks of CB; a last,
 * partial block goes through zero-padded copies.
 *
 * The `_bf16` entry points take bfloat16 maps, V and M (the bf16 static network: torch.bmm multiplies
 * bf16 V and U on the CPU's bf16 units); each block is widened to float32 as it is read and rounded
 * to nearest even as it is written, so the transforms themselves run in float32.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define CB 16   /* channels per block: the inner loops run over exactly this many, so they vectorise */
#define TMAX 8  /* largest input tile side (F(6x6,3x3)) */
#define INLINE static inline __attribute__((always_inline))

static const float zeros[CB];

/* Blocks of n <= CB channels from element i of a float32 map (bf16 = 0) or a bfloat16 one (bf16 = 1),
 * as float32; the rest of the block is zero. */
INLINE void load_block(const void *base, int64_t i, int n, const int bf16, float out[CB])
{
#if defined(__AVX512F__) && CB == 16
    if (bf16 && n == CB) { /* a whole block: 16 widened in one register */
        const __m256i half = _mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i));
        _mm512_storeu_ps(out, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16)));
        return;
    }
#endif
    for (int k = 0; k < CB; ++k) {
        if (k >= n) {
            out[k] = 0.0f;
        } else if (bf16) {
            const uint32_t bits = (uint32_t)((const uint16_t *)base)[i + k] << 16;
            memcpy(&out[k], &bits, sizeof bits);
        } else {
            out[k] = ((const float *)base)[i + k];
        }
    }
}

INLINE void store_block(void *base, int64_t i, int n, const int bf16, const float in[CB])
{
    if (!bf16) {
        memcpy((float *)base + i, in, (size_t)n * sizeof(float));
        return;
    }
#if defined(__AVX512BF16__) && CB == 16
    if (n == CB) { /* the CPU's own rounding (nearest even, NaN kept) */
        const __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(in));
        _mm256_storeu_si256((__m256i *)((uint16_t *)base + i), (__m256i)packed);
        return;
    }
#endif
    for (int k = 0; k < n; ++k) { /* round to nearest even; NaN stays NaN */
        uint32_t bits;
        memcpy(&bits, &in[k], sizeof bits);
        const int nan = (bits & 0x7fffffffu) > 0x7f800000u;
        bits = nan ? (bits | 0x00400000u) : bits + 0x7fffu + ((bits >> 16) & 1u);
        ((uint16_t *)base)[i + k] = (uint16_t)(bits >> 16);
    }
}

/* B^T of F(4,3) at points 0, +-1, +-2 (Lavin & Gray 2016) on six blocks. */
static inline void bt6(const float *const d[TMAX], float *const out[TMAX])
{
    for (int k = 0; k < CB; ++k) {
        const float d0 = d[0][k], d1 = d[1][k], d2 = d[2][k], d3 = d[3][k], d4 = d[4][k], d5 = d[5][k];
        const float p = d4 - 4.0f * d2, q = d3 - 4.0f * d1; /* rows 1, 2 share these */
        const float s = d4 - d2, r = 2.0f * (d3 - d1);      /* rows 3, 4 share these */
        out[0][k] = 4.0f * d0 - 5.0f * d2 + d4;
        out[1][k] = p + q;
        out[2][k] = p - q;
        out[3][k] = s + r;
        out[4][k] = s - r;
        out[5][k] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* B^T of F(6,3) at points 0, +-1, +-2, +-1/2 (NNPACK's) on eight blocks. */
static inline void bt8(const float *const d[TMAX], float *const out[TMAX])
{
    for (int k = 0; k < CB; ++k) {
        const float d0 = d[0][k], d1 = d[1][k], d2 = d[2][k], d3 = d[3][k];
        const float d4 = d[4][k], d5 = d[5][k], d6 = d[6][k], d7 = d[7][k];
        out[0][k] = d0 - d6 + 5.25f * (d4 - d2);
        out[7][k] = d7 - d1 + 5.25f * (d3 - d5);
        float t1 = d2 + d6 - 4.25f * d4, t2 = d1 + d5 - 4.25f * d3;
        out[1][k] = t1 + t2;
        out[2][k] = t1 - t2;
        t1 = 0.25f * d2 + d6 - 1.25f * d4;
        t2 = 0.5f * d1 - 2.5f * d3 + 2.0f * d5;
        out[3][k] = t1 + t2;
        out[4][k] = t1 - t2;
        t1 = 4.0f * d2 + d6 - 5.0f * d4;
        t2 = 2.0f * d1 - 2.5f * d3 + 0.5f * d5;
        out[5][k] = t1 + t2;
        out[6][k] = t1 - t2;
    }
}

/* A^T of F(4,3) on six blocks. */
static inline void at6(const float *const m[TMAX], float *const y[TMAX])
{
    for (int k = 0; k < CB; ++k) {
        const float a = m[1][k] + m[2][k], b = m[1][k] - m[2][k];
        const float c = m[3][k] + m[4][k], e = m[3][k] - m[4][k];
        y[0][k] = m[0][k] + a + c;
        y[1][k] = b + 2.0f * e;
        y[2][k] = a + 4.0f * c;
        y[3][k] = b + 8.0f * e + m[5][k];
    }
}

/* A^T of F(6,3) on eight blocks. */
static inline void at8(const float *const m[TMAX], float *const y[TMAX])
{
    for (int k = 0; k < CB; ++k) {
        const float a = m[1][k] + m[2][k], b = m[1][k] - m[2][k];
        const float c = m[3][k] + m[4][k], e = m[3][k] - m[4][k];
        const float f = m[5][k] + m[6][k], g = m[5][k] - m[6][k];
        y[0][k] = m[0][k] + a + c + f;
        y[1][k] = b + 2.0f * e + 0.5f * g;
        y[2][k] = a + 4.0f * c + 0.25f * f;
        y[3][k] = b + 8.0f * e + 0.125f * g;
        y[4][k] = a + 16.0f * c + 0.0625f * f;
        y[5][k] = b + 32.0f * e + 0.03125f * g + m[7][k];
    }
}

static inline void bt(int t, const float *const d[TMAX], float *const out[TMAX])
{
    if (t == 6)
        bt6(d, out);
    else
        bt8(d, out);
}

static inline void at(int t, const float *const m[TMAX], float *const y[TMAX])
{
    if (t == 6)
        at6(m, y);
    else
        at8(m, y);
}

/* V = B^T d B for one tile of rows [r0, r1) of every image; m the output tile side (4 or 6). */
INLINE void input_tile(
    const int m, const int64_t tile, const void *x, const int64_t *offset, const int *height, const int *width,
    int64_t row_stride, int64_t col_stride, int channels, int r0, int64_t rows, int tiles_per_row, void *v,
    int64_t point_stride, int64_t tile_stride, const int bf16)
{
    const int t = m + 2;
    {
        const int64_t image = tile / (rows * tiles_per_row);
        const int top = m * (r0 + (int)(tile / tiles_per_row % rows)) - 1;
        const int left = m * (int)(tile % tiles_per_row) - 1;
        const int64_t base = offset[image];
        const int h = height[image], w = width[image];
        for (int c0 = 0; c0 < channels; c0 += CB) {
            const int n = channels - c0 < CB ? channels - c0 : CB;
            const int direct = !bf16 && n == CB; /* read and write the maps in place */
            float part[TMAX][TMAX][CB]; /* a last, partial block, zero-padded; or a widened bf16 one */
            float rows_t[TMAX][TMAX][CB], tail[TMAX][CB];
            const float *d[TMAX];
            float *o[TMAX];
            for (int j = 0; j < t; ++j) { /* B^T over the tile's rows, column by column */
                const int xx = left + j;
                for (int i = 0; i < t; ++i) {
                    const int yy = top + i;
                    const int inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
                    const int64_t at = base + yy * row_stride + xx * col_stride + c0;
                    if (!inside) {
                        d[i] = zeros;
                    } else if (direct) {
                        d[i] = (const float *)x + at;
                    } else {
                        load_block(x, at, n, bf16, part[i][j]);
                        d[i] = part[i][j];
                    }
                }
                for (int a = 0; a < t; ++a)
                    o[a] = rows_t[a][j];
                bt(t, d, o);
            }
            for (int a = 0; a < t; ++a) { /* then over its columns, into V */
                for (int b = 0; b < t; ++b)
                    o[b] = direct ? (float *)v + (t * a + b) * point_stride + tile * tile_stride + c0 : tail[b];
                for (int j = 0; j < t; ++j)
                    d[j] = rows_t[a][j];
                bt(t, d, o);
                if (!direct)
                    for (int b = 0; b < t; ++b)
                        store_block(v, (t * a + b) * point_stride + tile * tile_stride + c0, n, bf16, tail[b]);
            }
        }
    }
}

/* Y = A^T M A (+ bias, then leaky ReLU when slope_on) for one tile of rows [r0, r1), written to the
 * output's pixels inside its image (the rest of the last tiles is dropped). */
INLINE void output_tile(
    const int m, const int64_t tile, const void *mt, const int64_t *offset, const int *height, const int *width,
    int64_t row_stride, int64_t col_stride, int channels, int r0, int64_t rows, int tiles_per_row,
    int64_t point_stride, int64_t tile_stride, const float *bias, int slope_on, float slope, void *y, const int bf16)
{
    const int t = m + 2;
    {
        const int64_t image = tile / (rows * tiles_per_row);
        const int top = m * (r0 + (int)(tile / tiles_per_row % rows));
        const int left = m * (int)(tile % tiles_per_row);
        const int64_t base = offset[image];
        const int h = height[image], w = width[image];
        for (int c0 = 0; c0 < channels; c0 += CB) {
            const int n = channels - c0 < CB ? channels - c0 : CB;
            const int direct = !bf16 && n == CB; /* read and write the maps in place */
            float part[TMAX][TMAX][CB], cols_t[TMAX][TMAX][CB], px[TMAX][CB], b0[CB];
            const float *src[TMAX];
            float *dst[TMAX];
            for (int k = 0; k < CB; ++k)
                b0[k] = (bias && k < n) ? bias[c0 + k] : 0.0f;
            for (int b = 0; b < t; ++b) { /* A^T over the transform's rows, column by column */
                for (int a = 0; a < t; ++a) {
                    const int64_t at = (t * a + b) * point_stride + tile * tile_stride + c0;
                    if (direct) {
                        src[a] = (const float *)mt + at;
                    } else {
                        load_block(mt, at, n, bf16, part[a][b]);
                        src[a] = part[a][b];
                    }
                }
                for (int i = 0; i < m; ++i)
                    dst[i] = cols_t[i][b];
                at(t, src, dst);
            }
            for (int i = 0; i < m && top + i < h; ++i) { /* then over its columns, into the output */
                for (int b = 0; b < t; ++b)
                    src[b] = cols_t[i][b];
                for (int j = 0; j < m; ++j)
                    dst[j] = px[j];
                at(t, src, dst);
                for (int j = 0; j < m && left + j < w; ++j) {
                    const int64_t at = base + (top + i) * row_stride + (left + j) * col_stride + c0;
                    float *to = direct ? (float *)y + at : px[j];
                    for (int k = 0; k < CB; ++k) {
                        const float s = px[j][k] + b0[k];
                        to[k] = (slope_on && s < 0.0f) ? s * slope : s;
                    }
                    if (!direct)
                        store_block(y, at, n, bf16, px[j]);
                }
            }
        }
    }
}

/* The exported entry points per tile size and element type (T float: float32 maps; uint16_t with
 * BF16 1: bfloat16 maps, V and M): the tiles of rows [r0, r1) split over the threads, each tile's work
 * inlined with m and the type constant (so its loops unroll). */
#define TILE_KERNELS(M, SUFFIX, T, BF16)                                                                     \
    void f##M##_input##SUFFIX(const T *x, int images, const int64_t *offset, const int *height,              \
                              const int *width, int64_t row_stride, int64_t col_stride, int channels, int r0, \
                              int r1, int tiles_per_row, T *v, int64_t point_stride, int64_t tile_stride,      \
                              int threads)                                                                   \
    {                                                                                                        \
        const int64_t rows = r1 - r0, tiles = (int64_t)images * rows * tiles_per_row;                        \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                                    \
        for (int64_t tile = 0; tile < tiles; ++tile)                                                         \
            input_tile(M, tile, x, offset, height, width, row_stride, col_stride, channels, r0, rows,        \
                       tiles_per_row, v, point_stride, tile_stride, BF16);                                   \
    }                                                                                                        \
    void f##M##_output##SUFFIX(const T *mt, int images, const int64_t *offset, const int *height,            \
                               const int *width, int64_t row_stride, int64_t col_stride, int channels, int r0, \
                               int r1, int tiles_per_row, int64_t point_stride, int64_t tile_stride,          \
                               const float *bias, int slope_on, float slope, T *y, int threads)              \
    {                                                                                                        \
        const int64_t rows = r1 - r0, tiles = (int64_t)images * rows * tiles_per_row;                        \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                                    \
        for (int64_t tile = 0; tile < tiles; ++tile)                                                         \
            output_tile(M, tile, mt, offset, height, width, row_stride, col_stride, channels, r0, rows,      \
                        tiles_per_row, point_stride, tile_stride, bias, slope_on, slope, y, BF16);           \
    }

TILE_KERNELS(4, , float, 0)
TILE_KERNELS(6, , float, 0)
TILE_KERNELS(4, _bf16, uint16_t, 1)
TILE_KERNELS(6, _bf16, uint16_t, 1)
