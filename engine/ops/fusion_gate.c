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
 */
#include <stdint.h>
#include <stdlib.h>

#define VB 8 /* channels per vector step */

static inline float value(const float *g, const float *e, int64_t p, int channels, int c)
{
    /* channel c of cat[g, |g - e|] at pixel p */
    if (c < channels)
        return g[p * channels + c];
    const float d = g[p * channels + c - channels] - e[p * channels + c - channels];
    return d < 0.0f ? -d : d;
}

void gate_moments(const float *g, const float *e, int64_t pixels, int channels, const float *centre,
                  double *out, int threads)
{
    const int width = 2 * channels;
    for (int c = 0; c < width; ++c)
        out[c] = 0.0;
#pragma omp parallel num_threads(threads)
    {
        double *acc = calloc((size_t)width, sizeof(double));
        float *row = malloc((size_t)width * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t p = 0; p < pixels; ++p) {
            const float *gp = g + p * channels, *ep = e + p * channels;
            for (int c = 0; c < channels; ++c) {
                const float d = gp[c] - ep[c];
                row[c] = gp[c];
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
}

void gate_taps(const float *g, const float *e, int64_t pixels, int channels, const float *mean,
               const float *w, const float *k, float *taps, int threads)
{
    const int width = 2 * channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < pixels; ++p) {
        const float *gp = g + p * channels, *ep = e + p * channels;
        float acc[9][VB] = {{0.0f}};
        int c = 0;
        for (; c + VB <= channels; c += VB) { /* g's channels */
            float v[VB];
            for (int i = 0; i < VB; ++i)
                v[i] = gp[c + i] - mean[c + i];
            for (int t = 0; t < 9; ++t)
                for (int i = 0; i < VB; ++i)
                    acc[t][i] += w[t * width + c + i] * v[i];
        }
        for (int d = 0; d + VB <= channels; d += VB) { /* |g - e|'s channels */
            float v[VB];
            for (int i = 0; i < VB; ++i) {
                const float diff = gp[d + i] - ep[d + i];
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
                sum += w[t * width + r] * (value(g, e, p, channels, r) - mean[r])
                       + w[t * width + channels + r] * (value(g, e, p, channels, channels + r) - mean[channels + r]);
            taps[p * 9 + t] = sum;
        }
    }
}

/* The fusion's skip conv, conv3x3(cat[skip, e * m]) with three outputs, as per-pixel tap sums:
 * taps[p][3 * t + o] = sum_c w[3 * t + o][c] * v(p, c), v = cat[skip(p), e(p) * m(p)], so neither the
 * gated feature nor the concatenation is written; the caller adds the nine shifted taps. skip holds
 * three channels per pixel, e `channels`, m one; w is [27][3 + channels]. */
void skip_taps(const float *skip, const float *e, const float *m, int64_t pixels, int channels, const float *w,
               float *taps, int threads)
{
    const int width = 3 + channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < pixels; ++p) {
        const float *ep = e + p * channels, gate = m[p];
        float acc[27][VB] = {{0.0f}};
        int c = 0;
        for (; c + VB <= channels; c += VB) {
            float v[VB];
            for (int i = 0; i < VB; ++i)
                v[i] = ep[c + i] * gate;
            for (int r = 0; r < 27; ++r)
                for (int i = 0; i < VB; ++i)
                    acc[r][i] += w[r * width + 3 + c + i] * v[i];
        }
        for (int r = 0; r < 27; ++r) {
            float sum = 0.0f;
            for (int i = 0; i < VB; ++i)
                sum += acc[r][i];
            for (int s = 0; s < 3; ++s)
                sum += w[r * width + s] * skip[p * 3 + s];
            for (int rest = c; rest < channels; ++rest)
                sum += w[r * width + 3 + rest] * ep[rest] * gate;
            taps[p * 27 + r] = sum;
        }
    }
}
