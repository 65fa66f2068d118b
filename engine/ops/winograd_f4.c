/* F(4x4,3x3) Winograd transforms for engine/ops/winograd.py, built on first use by engine/ops/native.py.
 *
 * The torch route gathers each band's 6x6 input tiles with a strided copy, then applies B^T over
 * tile rows and columns as two small matrix products, and A^T the same way back: four passes over
 * buffers 36/16 the size of the band. Here one pass per tile reads its 6x6 patch (zeros outside
 * the map: the conv's own padding), transforms it in registers and writes V; another reads M and
 * writes the 4x4 outputs (bias, leaky ReLU, crop) straight into the channels_last output.
 *
 * Layouts (float32): the input and output are channels_last maps addressed per "image" by an
 * element offset, a row stride and a column stride; channels are contiguous. A dilated conv is the
 * same maths on each of its d x d interleaved sub-grids: one image each, strides d times larger.
 * V and M hold transform point k = 6 * a + b of tile t at k * point_stride + t * tile_stride
 * (channels contiguous), tile = (image * band_rows + row) * tiles_per_row + column: torch.bmm reads
 * V as [36][tiles][channels] through those strides. Channels run in blocks of CB; a last, partial
 * block goes through zero-padded copies.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CB 16 /* channels per block: the inner loops run over exactly this many, so they vectorise */

static const float zeros[CB];

/* B^T of F(4,3) at points 0, +-1, +-2 (Lavin & Gray 2016) on six blocks, out[b] at stride. */
static inline void bt6(const float *const d[6], float *const out[6])
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

/* A^T of F(4,3) on six blocks. */
static inline void at6(const float *const m[6], float *const y[4])
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

/* V = B^T d B for the tiles of rows [r0, r1) of every image. */
void f4_input(const float *x, int images, const int64_t *offset, const int *height, const int *width,
              int64_t row_stride, int64_t col_stride, int channels, int r0, int r1, int tiles_per_row,
              float *v, int64_t point_stride, int64_t tile_stride, int threads)
{
    const int64_t rows = r1 - r0, tiles = (int64_t)images * rows * tiles_per_row;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t image = tile / (rows * tiles_per_row);
        const int top = 4 * (r0 + (int)(tile / tiles_per_row % rows)) - 1;
        const int left = 4 * (int)(tile % tiles_per_row) - 1;
        const float *base = x + offset[image];
        const int h = height[image], w = width[image];
        for (int c0 = 0; c0 < channels; c0 += CB) {
            const int n = channels - c0 < CB ? channels - c0 : CB;
            float part[6][6][CB]; /* a last, partial block, zero-padded */
            float rows_t[6][6][CB], tail[6][CB];
            const float *d[6];
            float *t[6];
            for (int j = 0; j < 6; ++j) { /* B^T over the tile's rows, column by column */
                const int xx = left + j;
                for (int i = 0; i < 6; ++i) {
                    const int yy = top + i;
                    const int inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
                    const float *src = inside ? base + yy * row_stride + xx * col_stride + c0 : zeros;
                    if (n < CB) {
                        memset(part[i][j], 0, sizeof part[i][j]);
                        if (inside)
                            memcpy(part[i][j], src, n * sizeof(float));
                        src = part[i][j];
                    }
                    d[i] = src;
                }
                for (int a = 0; a < 6; ++a)
                    t[a] = rows_t[a][j];
                bt6(d, t);
            }
            for (int a = 0; a < 6; ++a) { /* then over its columns, into V */
                float *out[6];
                for (int b = 0; b < 6; ++b)
                    out[b] = n < CB ? tail[b] : v + (6 * a + b) * point_stride + tile * tile_stride + c0;
                for (int j = 0; j < 6; ++j)
                    d[j] = rows_t[a][j];
                bt6(d, out);
                if (n < CB)
                    for (int b = 0; b < 6; ++b)
                        memcpy(v + (6 * a + b) * point_stride + tile * tile_stride + c0, tail[b], n * sizeof(float));
            }
        }
    }
}

/* Y = A^T M A (+ bias, then leaky ReLU when slope_on) for the tiles of rows [r0, r1), written to
 * the output's pixels inside each image (the rest of the last tiles is dropped). */
void f4_output(const float *m, int images, const int64_t *offset, const int *height, const int *width,
               int64_t row_stride, int64_t col_stride, int channels, int r0, int r1, int tiles_per_row,
               int64_t point_stride, int64_t tile_stride, const float *bias, int slope_on, float slope, float *y,
               int threads)
{
    const int64_t rows = r1 - r0, tiles = (int64_t)images * rows * tiles_per_row;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t image = tile / (rows * tiles_per_row);
        const int top = 4 * (r0 + (int)(tile / tiles_per_row % rows));
        const int left = 4 * (int)(tile % tiles_per_row);
        float *base = y + offset[image];
        const int h = height[image], w = width[image];
        for (int c0 = 0; c0 < channels; c0 += CB) {
            const int n = channels - c0 < CB ? channels - c0 : CB;
            float part[6][6][CB], cols_t[4][6][CB], px[4][CB], b0[CB];
            const float *src[6];
            float *dst[4];
            for (int k = 0; k < CB; ++k)
                b0[k] = (bias && k < n) ? bias[c0 + k] : 0.0f;
            for (int b = 0; b < 6; ++b) { /* A^T over the transform's rows, column by column */
                for (int a = 0; a < 6; ++a) {
                    src[a] = m + (6 * a + b) * point_stride + tile * tile_stride + c0;
                    if (n < CB) {
                        memset(part[a][b], 0, sizeof part[a][b]);
                        memcpy(part[a][b], src[a], n * sizeof(float));
                        src[a] = part[a][b];
                    }
                }
                for (int i = 0; i < 4; ++i)
                    dst[i] = cols_t[i][b];
                at6(src, dst);
            }
            for (int i = 0; i < 4 && top + i < h; ++i) { /* then over its columns, into the output */
                for (int b = 0; b < 6; ++b)
                    src[b] = cols_t[i][b];
                for (int j = 0; j < 4; ++j)
                    dst[j] = px[j];
                at6(src, dst);
                for (int j = 0; j < 4 && left + j < w; ++j) {
                    float *out = base + (top + i) * row_stride + (left + j) * col_stride + c0;
                    float *to = n < CB ? px[j] : out;
                    for (int k = 0; k < CB; ++k) {
                        const float s = px[j][k] + b0[k];
                        to[k] = (slope_on && s < 0.0f) ? s * slope : s;
                    }
                    if (n < CB)
                        memcpy(out, px[j], n * sizeof(float));
                }
            }
        }
    }
}
