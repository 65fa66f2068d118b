/* The gated fusion's mask logits without its 2C-channel intermediate, for engine/ops/gate.py.
 *
 * VToonify-D's fusion computes m = conv3x3(InstanceNorm(cat[g, |g - e|]) * gamma + beta) with one
 * output channel. The torch route writes |g - e|, the concatenation and the normalised copy (three
 * full-size 2C-channel tensors) only to reduce them to one channel. Here, per sample:
 *   gate_moments: per-channel sums of v = cat[g, |g - e|] (or of (v - centre)^2), in double;
 *   gate_taps:    for every pixel q and tap t = 3 * ky + kx, D[q][t] = sum_c w[t][c] * (v(q,c) - mean_c)
 *                 + k[t] (w already scaled by gamma / std, k = sum_c w_conv[t][c] * beta_c),
 * and the caller adds the nine shifted taps (conv2d's zero padding: a tap outside the map adds nothing).
 * g and e are one sample's channels_last pixels, contiguous: pixel p's channels at p * channels.
 *
 * Every kernel reads its feature maps as float32 or as bfloat16 (the `_bf16` entry points, for the
 * bf16 static network); the arithmetic is float32 either way. One always-inlined body serves both,
 * specialised by a constant flag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VB 8 /* channels per vector step */
#define INLINE static inline __attribute__((always_inline))

INLINE float load(const void *base, int64_t i, const int bf16)
{
    /* element i of a float32 map, or of a bfloat16 one (its bits are a float32's upper half) */
    if (bf16) {
        const uint32_t bits = (uint32_t)((const uint16_t *)base)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    return ((const float *)base)[i];
}

INLINE float value(const void *g, const void *e, int64_t p, int channels, int c, const int bf16)
{
    /* channel c of cat[g, |g - e|] at pixel p */
    if (c < channels)
        return load(g, p * channels + c, bf16);
    const float d = load(g, p * channels + c - channels, bf16) - load(e, p * channels + c - channels, bf16);
    return d < 0.0f ? -d : d;
}

INLINE void moments_thread(const void *g, const void *e, int64_t pixels, int channels, const float *centre,
                           double *out, const int bf16)
{
    /* one thread's share of the sums, added to out under a lock (inside the caller's parallel region) */
    const int width = 2 * channels;
    double *acc = calloc((size_t)width, sizeof(double));
    float *row = malloc((size_t)width * sizeof(float));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < pixels; ++p) {
        const int64_t at = p * channels;
        for (int c = 0; c < channels; ++c) {
            const float gc = load(g, at + c, bf16), d = gc - load(e, at + c, bf16);
            row[c] = gc;
            row[channels + c] = d < 0.0f ? -d : d;
        }
        if (centre) {
            for (int c = 0; c < width; ++c) {
                const float d = row[c] - centre[c];
                acc[c] += (double)(d * d);
            }
        } else {
            for (int c = 0; c < width; ++c)
                acc[c] += (double)row[c];
        }
    }
#pragma omp critical
    for (int c = 0; c < width; ++c)
        out[c] += acc[c];
    free(acc);
    free(row);
}

INLINE void taps_pixel(const void *g, const void *e, int64_t p, int channels, const float *mean, const float *w,
                       const float *k, float *taps, const int bf16)
{
    const int width = 2 * channels;
    const int64_t at = p * channels;
    float acc[9][VB] = {{0.0f}};
    int c = 0;
    for (; c + VB <= channels; c += VB) { /* g's channels */
        float v[VB];
        for (int i = 0; i < VB; ++i)
            v[i] = load(g, at + c + i, bf16) - mean[c + i];
        for (int t = 0; t < 9; ++t)
            for (int i = 0; i < VB; ++i)
                acc[t][i] += w[t * width + c + i] * v[i];
    }
    for (int d = 0; d + VB <= channels; d += VB) { /* |g - e|'s channels */
        float v[VB];
        for (int i = 0; i < VB; ++i) {
            const float diff = load(g, at + d + i, bf16) - load(e, at + d + i, bf16);
            v[i] = (diff < 0.0f ? -diff : diff) - mean[channels + d + i];
        }
        for (int t = 0; t < 9; ++t)
            for (int i = 0; i < VB; ++i)
                acc[t][i] += w[t * width + channels + d + i] * v[i];
    }
    for (int t = 0; t < 9; ++t) {
        float sum = k[t];
        for (int i = 0; i < VB; ++i)
            sum += acc[t][i];
        for (int r = c; r < channels; ++r) /* channels past the last whole vector step */
            sum += w[t * width + r] * (value(g, e, p, channels, r, bf16) - mean[r])
                   + w[t * width + channels + r] * (value(g, e, p, channels, channels + r, bf16) - mean[channels + r]);
        taps[p * 9 + t] = sum;
    }
}

/* The fusion's skip conv, conv3x3(cat[skip, e * m]) with three outputs, as per-pixel tap sums:
 * taps[p][3 * t + o] = sum_c w[3 * t + o][c] * v(p, c), v = cat[skip(p), e(p) * m(p)], so neither the
 * gated feature nor the concatenation is written; the caller adds the nine shifted taps. skip holds
 * three channels per pixel, e `channels` (both float32 or both bfloat16), m one (float32);
 * w is [27][3 + channels]. */
INLINE void skip_pixel(const void *skip, const void *e, const float *m, int64_t p, int channels, const float *w,
                       float *taps, const int bf16)
{
    const int width = 3 + channels;
    const int64_t at = p * channels;
    const float gate = m[p];
    float acc[27][VB] = {{0.0f}};
    int c = 0;
    for (; c + VB <= channels; c += VB) {
        float v[VB];
        for (int i = 0; i < VB; ++i)
            v[i] = load(e, at + c + i, bf16) * gate;
        for (int r = 0; r < 27; ++r)
            for (int i = 0; i < VB; ++i)
                acc[r][i] += w[r * width + 3 + c + i] * v[i];
    }
    for (int r = 0; r < 27; ++r) {
        float sum = 0.0f;
        for (int i = 0; i < VB; ++i)
            sum += acc[r][i];
        for (int s = 0; s < 3; ++s)
            sum += w[r * width + s] * load(skip, p * 3 + s, bf16);
        for (int rest = c; rest < channels; ++rest)
            sum += w[r * width + 3 + rest] * load(e, at + rest, bf16) * gate;
        taps[p * 27 + r] = sum;
    }
}

/* The entry points: float32 maps, and bfloat16 maps (`_bf16`). Each holds its own parallel region, so
 * the inlined bodies are compiled once per element type. */
#define ENTRY_POINTS(SUFFIX, T, BF16)                                                                          \
    void gate_moments##SUFFIX(const T *g, const T *e, int64_t pixels, int channels, const float *centre,      \
                              double *out, int threads)                                                      \
    {                                                                                                          \
        for (int c = 0; c < 2 * channels; ++c)                                                                 \
            out[c] = 0.0;                                                                                      \
        _Pragma("omp parallel num_threads(threads)")                                                           \
        moments_thread(g, e, pixels, channels, centre, out, BF16);                                             \
    }                                                                                                          \
    void gate_taps##SUFFIX(const T *g, const T *e, int64_t pixels, int channels, const float *mean,           \
                           const float *w, const float *k, float *taps, int threads)                           \
    {                                                                                                          \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                                      \
        for (int64_t p = 0; p < pixels; ++p)                                                                   \
            taps_pixel(g, e, p, channels, mean, w, k, taps, BF16);                                             \
    }                                                                                                          \
    void skip_taps##SUFFIX(const T *skip, const T *e, const float *m, int64_t pixels, int channels,           \
                           const float *w, float *taps, int threads)                                           \
    {                                                                                                          \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                                      \
        for (int64_t p = 0; p < pixels; ++p)                                                                   \
            skip_pixel(skip, e, m, p, channels, w, taps, BF16);                                                \
    }

ENTRY_POINTS(, float, 0)
ENTRY_POINTS(_bf16, uint16_t, 1)
