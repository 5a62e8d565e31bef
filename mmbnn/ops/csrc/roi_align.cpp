// RoIAlign on channels-last features, forward and backward: the RoI feature
// extractor of two-stage detectors (Faster R-CNN), for training them on a
// CPU (mmbnn/ops/roi_align.py).
//
// What it computes is Mask R-CNN's RoIAlign with average pooling, as mmcv's
// and torchvision's CPU kernels compute it, in the same float operations and
// the same order, so the results are equal to theirs bit for bit: a RoI's
// box, scaled to the feature map (minus half a pixel when aligned), is cut
// into PH x PW bins; each bin averages a grid of bilinear samples (gh x gw
// points, gh = sampling_ratio or ceil(bin height)); a sample outside
// [-1, size] on either axis contributes zero, one inside is clamped to the
// map. The backward spreads each bin's gradient back over the same samples'
// four neighbours.
//
// Those kernels loop over channels outermost and recompute every sample's
// position and weights once per channel, with one scalar read or write at a
// strided address each. Here the features are [N, H, W, C]: a sample's
// weights are computed once, and its four neighbours are contiguous rows of
// C floats, read (forward) or accumulated into (backward) by vector loops.
// Per output element the additions happen in the reference's order (RoI by
// RoI, bin by bin, sample by sample, the four neighbours in turn), which is
// what keeps the backward equal: its threads split images and channels, so
// no two threads write one element. Built with -ffp-contract=off (no fused
// multiply-add), as the reference's separate roundings need.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mmbnn_abi.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The channel loops in AVX-512 or AVX2 where the CPU has them (GCC picks at
// load time); without FMA every width rounds the same.
#define MMBNN_CLONES \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MMBNN_CLONES
#endif

namespace {

struct Roi {
  int64_t n;  // image
  float start_y, start_x, bin_h, bin_w;
  int grid_h, grid_w;
};

inline Roi roi_geometry(const float *box, float scale, int ph, int pw,
                        int sampling, bool aligned) {
  const float offset = aligned ? 0.5f : 0.0f;
  Roi r;
  r.n = static_cast<int64_t>(box[0]);
  r.start_x = box[1] * scale - offset;
  r.start_y = box[2] * scale - offset;
  float w = box[3] * scale - offset - r.start_x;
  float h = box[4] * scale - offset - r.start_y;
  if (!aligned) {  // legacy boxes: at least one pixel
    w = std::max(w, 1.0f);
    h = std::max(h, 1.0f);
  }
  r.bin_h = h / static_cast<float>(ph);
  r.bin_w = w / static_cast<float>(pw);
  r.grid_h = sampling > 0
                 ? sampling
                 : static_cast<int>(std::ceil(h / static_cast<float>(ph)));
  r.grid_w = sampling > 0
                 ? sampling
                 : static_cast<int>(std::ceil(w / static_cast<float>(pw)));
  return r;
}

// Sample (y, x) of a bin: its neighbours' row offsets (pixels) and bilinear
// weights; false where it lies outside the map (it contributes nothing).
inline bool bilinear(float y, float x, int64_t height, int64_t width,
                     int64_t off[4], float w[4]) {
  if (y < -1.0f || y > static_cast<float>(height) || x < -1.0f ||
      x > static_cast<float>(width))
    return false;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= height - 1) {
    y1 = y0 = height - 1;
    y = static_cast<float>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= width - 1) {
    x1 = x0 = width - 1;
    x = static_cast<float>(x0);
  } else {
    x1 = x0 + 1;
  }
  const float ly = y - static_cast<float>(y0), lx = x - static_cast<float>(x0);
  // 1 - l in double, then rounded, as the reference writes it (1. - ly).
  const float hy = static_cast<float>(1. - ly);
  const float hx = static_cast<float>(1. - lx);
  w[0] = hy * hx;
  w[1] = hy * lx;
  w[2] = ly * hx;
  w[3] = ly * lx;
  off[0] = y0 * width + x0;
  off[1] = y0 * width + x1;
  off[2] = y1 * width + x0;
  off[3] = y1 * width + x1;
  return true;
}

inline float sample_y(const Roi &r, int ph, int iy) {
  return r.start_y + static_cast<float>(ph) * r.bin_h +
         static_cast<float>(iy + .5f) * r.bin_h / static_cast<float>(r.grid_h);
}

inline float sample_x(const Roi &r, int pw, int ix) {
  return r.start_x + static_cast<float>(pw) * r.bin_w +
         static_cast<float>(ix + .5f) * r.bin_w / static_cast<float>(r.grid_w);
}

// One RoI's [C, PH, PW] output from image ``img`` ([H, W, C]); ``acc``: C
// floats of scratch.
MMBNN_CLONES void forward_roi(const float *__restrict img, int64_t height,
                              int64_t width, int64_t channels, const Roi &r,
                              int ph_count, int pw_count,
                              float *__restrict out, float *__restrict acc) {
  const float count = static_cast<float>(std::max(r.grid_h * r.grid_w, 1));
  const int64_t bins = static_cast<int64_t>(ph_count) * pw_count;
  int64_t off[4];
  float w[4];
  for (int ph = 0; ph < ph_count; ++ph) {
    for (int pw = 0; pw < pw_count; ++pw) {
      for (int64_t c = 0; c < channels; ++c) acc[c] = 0.0f;
      for (int iy = 0; iy < r.grid_h; ++iy) {
        const float y = sample_y(r, ph, iy);
        for (int ix = 0; ix < r.grid_w; ++ix) {
          if (!bilinear(y, sample_x(r, pw, ix), height, width, off, w))
            continue;
          const float *__restrict v0 = img + off[0] * channels;
          const float *__restrict v1 = img + off[1] * channels;
          const float *__restrict v2 = img + off[2] * channels;
          const float *__restrict v3 = img + off[3] * channels;
          const float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
          for (int64_t c = 0; c < channels; ++c)
            acc[c] += w0 * v0[c] + w1 * v1[c] + w2 * v2[c] + w3 * v3[c];
        }
      }
      float *__restrict o = out + static_cast<int64_t>(ph) * pw_count + pw;
      for (int64_t c = 0; c < channels; ++c) o[c * bins] = acc[c] / count;
    }
  }
}

// grad[c] * w / count added to ``row``'s channels [0, len): one neighbour.
MMBNN_CLONES void spread(float *__restrict row, const float *__restrict grad,
                         float w, float count, int64_t len) {
  for (int64_t c = 0; c < len; ++c) row[c] += grad[c] * w / count;
}

}  // namespace

// out [R, C, PH, PW] = RoIAlign of feat [N, H, W, C] over rois [R, 5]
// (image index, x1, y1, x2, y2 in input pixels). Returns the number of RoIs
// whose image index is not in [0, N) (their output is left unwritten).
extern "C" int64_t mmbnn_roi_align_forward(
    const float *feat, int64_t N, int64_t H, int64_t W, int64_t C,
    const float *rois, int64_t R, int PH, int PW, float spatial_scale,
    int sampling_ratio, int aligned, float *out, int threads) {
  int64_t bad = 0;
#pragma omp parallel num_threads(threads) reduction(+ : bad)
  {
    std::vector<float> acc(static_cast<size_t>(C));
#pragma omp for schedule(dynamic, 8)
    for (int64_t i = 0; i < R; ++i) {
      const Roi r = roi_geometry(rois + 5 * i, spatial_scale, PH, PW,
                                 sampling_ratio, aligned != 0);
      if (r.n < 0 || r.n >= N) {
        ++bad;
        continue;
      }
      forward_roi(feat + r.n * H * W * C, H, W, C, r, PH, PW,
                  out + i * C * PH * PW, acc.data());
    }
  }
  return bad;
}

// grad_feat [N, H, W, C] (zeroed by the caller) += the gradient of
// mmbnn_roi_align_forward for grad_out [R, C, PH, PW]. Work is split over
// (image, channel range) pairs: every gradient element is owned by one
// thread and receives its additions in RoI order. Returns the number of RoIs
// whose image index is not in [0, N).
extern "C" int64_t mmbnn_roi_align_backward(
    const float *grad_out, int64_t N, int64_t H, int64_t W, int64_t C,
    const float *rois, int64_t R, int PH, int PW, float spatial_scale,
    int sampling_ratio, int aligned, float *grad_feat, int threads) {
  int64_t bad = 0;
  for (int64_t i = 0; i < R; ++i) {
    const int64_t n = static_cast<int64_t>(rois[5 * i]);
    bad += n < 0 || n >= N;
  }
  // Enough channel ranges for every thread when there are fewer images
  // than threads; at least 16 channels a range.
  const int64_t per_image =
      N >= threads ? 1
                   : std::max<int64_t>(1, std::min<int64_t>(
                                              (threads + N - 1) / N, C / 16));
  const int64_t span = (C + per_image - 1) / per_image;
  const int64_t bins = static_cast<int64_t>(PH) * PW;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> g(static_cast<size_t>(span));
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < N * per_image; ++task) {
      const int64_t n = task / per_image, c0 = task % per_image * span;
      const int64_t len = std::min(span, C - c0);
      if (len <= 0) continue;
      float *img = grad_feat + n * H * W * C + c0;
      for (int64_t i = 0; i < R; ++i) {
        if (static_cast<int64_t>(rois[5 * i]) != n) continue;
        const Roi r = roi_geometry(rois + 5 * i, spatial_scale, PH, PW,
                                   sampling_ratio, aligned != 0);
        const float count = static_cast<float>(r.grid_h * r.grid_w);
        const float *go = grad_out + (i * C + c0) * bins;
        int64_t off[4];
        float w[4];
        for (int ph = 0; ph < PH; ++ph) {
          for (int pw = 0; pw < PW; ++pw) {
            const int64_t bin = static_cast<int64_t>(ph) * PW + pw;
            for (int64_t c = 0; c < len; ++c) g[c] = go[c * bins + bin];
            for (int iy = 0; iy < r.grid_h; ++iy) {
              const float y = sample_y(r, ph, iy);
              for (int ix = 0; ix < r.grid_w; ++ix) {
                if (!bilinear(y, sample_x(r, pw, ix), H, W, off, w)) continue;
                // The four neighbours one after another (two may be one
                // pixel at the map's edge), as the reference adds them.
                for (int k = 0; k < 4; ++k)
                  spread(img + off[k] * C, g.data(), w[k], count, len);
              }
            }
          }
        }
      }
    }
  }
  return bad;
}
