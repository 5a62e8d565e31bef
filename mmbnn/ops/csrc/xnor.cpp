// mmbnn's native library: the XNOR-popcount binary convolution of the CPU
// runtime (docs/deploy.md) and the training estimators' sign and tanh passes.
//
// Bit layout: a binary value +1 is bit 1, -1 is bit 0. Activations are packed
// per pixel ([N, H, W, G * Cgw] 64-bit words, Cgw = ceil(Cg / 64), unused tail
// bits 0); weights per output channel ([G][Og/8 blocks][tap][Cgw][8 channels]).
// For +-1 vectors a, w of length n, dot(a, w) = n - 2 popcount(a XOR w). A
// padded tap contributes nothing (a zero is neither +1 nor -1): its patch words
// are 0, and the popcount of the weight words it met is subtracted again
// (wpop: those counts, laid out as the weights, [G][blocks][tap][8]).
//
// One source for every instruction set: on x86 the AVX-512 and AVX2 kernels
// carry GCC target attributes, so the library is built without -march=native
// and picks a kernel at run time (mmbnn_isa_supported); on aarch64 the NEON
// kernel (Advanced SIMD, part of every aarch64 CPU) and the scalar one are
// built. Built with -ffp-contract=off: the epilogue rounds alpha * dot, +
// beta, + residual separately, as PyTorch's elementwise ops do, on every path.
#if defined(__x86_64__) || defined(__i386__)
#define MMBNN_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "mmbnn_abi.h"

typedef uint64_t u64;
enum {
  ISA_SCALAR = MMBNN_ISA_SCALAR,
  ISA_AVX2 = MMBNN_ISA_AVX2,
  ISA_AVX512 = MMBNN_ISA_AVX512,
  ISA_NEON = MMBNN_ISA_NEON
};
static const int BLOCK = MMBNN_BLOCK;  // output channels per weight block
#ifndef AVX2_PX
#define AVX2_PX 4
#endif

extern "C" int mmbnn_isa_supported(int isa) {
  if (isa == ISA_SCALAR) return 1;
#ifdef MMBNN_X86
  __builtin_cpu_init();
  switch (isa) {
    case ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case ISA_AVX512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vpopcntdq");
  }
#endif
#if defined(__aarch64__)
  if (isa == ISA_NEON) return 1;
#endif
  return 0;
}

extern "C" int mmbnn_abi_version() { return MMBNN_ABI_VERSION; }

// acc[p * 8 + j] = sum_k popcount(x[p][off[p][k]] ^ w[k * 8 + j]) for P
// pixels, each read where it lies (in the input, or in a gathered copy). (wlo,
// whi: the nibbles of w, and x, xhi: those of the input, for the AVX2
// kernel; the others read w and x.)
typedef void (*Kernel)(const u64 *w, const u64 *wlo, const u64 *whi,
                       const u64 *const *x, const u64 *const *xhi,
                       const int64_t *const *off, int P, int K, int32_t *acc);

static void kernel_scalar(const u64 *w, const u64 *, const u64 *,
                          const u64 *const *x, const u64 *const *,
                          const int64_t *const *off, int P, int K,
                          int32_t *acc) {
  for (int p = 0; p < P; ++p) {
    int32_t s[BLOCK] = {0};
    for (int k = 0; k < K; ++k) {
      const u64 v = x[p][off[p][k]];
      const u64 *wk = w + BLOCK * k;
      for (int j = 0; j < BLOCK; ++j) s[j] += __builtin_popcountll(v ^ wk[j]);
    }
    std::memcpy(acc + p * BLOCK, s, sizeof(s));
  }
}

#ifdef MMBNN_X86
__attribute__((target("avx2,popcnt"))) static inline void store_u64x4(
    __m256i v, int32_t *dst) {
  alignas(32) u64 t[4];
  _mm256_store_si256(reinterpret_cast<__m256i *>(t), v);
  for (int j = 0; j < 4; ++j) dst[j] = static_cast<int32_t>(t[j]);
}

// PX pixels x 8 channels per pass. popcount(x ^ w) by nibbles: the nibbles
// of the weights are split once per layer and those of the input once per
// call, so each nibble of x ^ w costs one XOR and one vpshufb lookup. Byte
// counters are summed (vpsadbw) every 31 words, before a byte can overflow
// (31 * 8 = 248).
template <int PX>
__attribute__((target("avx2,popcnt"), always_inline)) static inline void
avx2_pixels(const u64 *wlo, const u64 *whi, const u64 *const *xlo,
            const u64 *const *xhi, const int64_t *const *off, int K,
            int32_t *acc) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                                       3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i zero = _mm256_setzero_si256();
  __m256i t[PX][2];
  for (int p = 0; p < PX; ++p) t[p][0] = t[p][1] = zero;
  for (int k0 = 0; k0 < K; k0 += 31) {
    const int k1 = std::min(K, k0 + 31);
    __m256i b[PX][2];
    for (int p = 0; p < PX; ++p) b[p][0] = b[p][1] = zero;
    for (int k = k0; k < k1; ++k) {
      const __m256i l0 = _mm256_loadu_si256((const __m256i *)(wlo + BLOCK * k));
      const __m256i l1 = _mm256_loadu_si256((const __m256i *)(wlo + BLOCK * k + 4));
      const __m256i h0 = _mm256_loadu_si256((const __m256i *)(whi + BLOCK * k));
      const __m256i h1 = _mm256_loadu_si256((const __m256i *)(whi + BLOCK * k + 4));
      for (int p = 0; p < PX; ++p) {
        const int64_t o = off[p][k];
        const __m256i xl = _mm256_set1_epi64x((long long)xlo[p][o]);
        const __m256i xh = _mm256_set1_epi64x((long long)xhi[p][o]);
        b[p][0] = _mm256_add_epi8(b[p][0], _mm256_add_epi8(
            _mm256_shuffle_epi8(lut, _mm256_xor_si256(l0, xl)),
            _mm256_shuffle_epi8(lut, _mm256_xor_si256(h0, xh))));
        b[p][1] = _mm256_add_epi8(b[p][1], _mm256_add_epi8(
            _mm256_shuffle_epi8(lut, _mm256_xor_si256(l1, xl)),
            _mm256_shuffle_epi8(lut, _mm256_xor_si256(h1, xh))));
      }
    }
    for (int p = 0; p < PX; ++p) {
      t[p][0] = _mm256_add_epi64(t[p][0], _mm256_sad_epu8(b[p][0], zero));
      t[p][1] = _mm256_add_epi64(t[p][1], _mm256_sad_epu8(b[p][1], zero));
    }
  }
  for (int p = 0; p < PX; ++p) {
    store_u64x4(t[p][0], acc + p * BLOCK);
    store_u64x4(t[p][1], acc + p * BLOCK + 4);
  }
}

__attribute__((target("avx2,popcnt"))) static void kernel_avx2(
    const u64 *, const u64 *wlo, const u64 *whi, const u64 *const *xlo,
    const u64 *const *xhi, const int64_t *const *off, int P, int K,
    int32_t *acc) {
  int p = 0;
  for (; p + 2 <= P; p += 2)
    avx2_pixels<2>(wlo, whi, xlo + p, xhi + p, off + p, K, acc + p * BLOCK);
  for (; p < P; ++p)
    avx2_pixels<1>(wlo, whi, xlo + p, xhi + p, off + p, K, acc + p * BLOCK);
}

// PX pixels x 8 channels per pass, one VPOPCNTQ per pixel and word:
// s_p += popcount(x_p ^ w_k). With SHARED the pixels are read in place and
// share one offset table (one index load a word for all of them).
#ifndef AVX512_PX
#define AVX512_PX 8
#endif
template <int PX, bool SHARED>
__attribute__((target("avx512f,avx512vpopcntdq"), always_inline)) static inline void
avx512_pixels(const u64 *w, const u64 *const *x, const int64_t *const *off,
              int K, int32_t *acc) {
  __m512i s[PX];
#pragma GCC unroll 16
  for (int p = 0; p < PX; ++p) s[p] = _mm512_setzero_si512();
  for (int k = 0; k < K; ++k) {
    const __m512i wk = _mm512_loadu_si512(w + BLOCK * k);
    const int64_t o = off[0][k];
#pragma GCC unroll 16
    for (int p = 0; p < PX; ++p)
      s[p] = _mm512_add_epi64(
          s[p], _mm512_popcnt_epi64(_mm512_xor_si512(
                    wk, _mm512_set1_epi64(
                            (long long)x[p][SHARED ? o : off[p][k]]))));
  }
#pragma GCC unroll 16
  for (int p = 0; p < PX; ++p)
    _mm256_storeu_si256((__m256i *)(acc + p * BLOCK), _mm512_cvtepi64_epi32(s[p]));
}

template <int PX>
__attribute__((target("avx512f,avx512vpopcntdq"), always_inline)) static inline void
avx512_group(const u64 *w, const u64 *const *x, const int64_t *const *off,
             int K, int32_t *acc) {
  bool shared = true;
  for (int p = 1; p < PX; ++p) shared = shared && off[p] == off[0];
  if (shared)
    avx512_pixels<PX, true>(w, x, off, K, acc);
  else
    avx512_pixels<PX, false>(w, x, off, K, acc);
}

// AVX512_PX pixels a pass, the rest in passes of 4, 2 and 1.
__attribute__((target("avx512f,avx512vpopcntdq"))) static void kernel_avx512(
    const u64 *w, const u64 *, const u64 *, const u64 *const *x,
    const u64 *const *, const int64_t *const *off, int P, int K,
    int32_t *acc) {
  int p = 0;
  for (; p + AVX512_PX <= P; p += AVX512_PX)
    avx512_group<AVX512_PX>(w, x + p, off + p, K, acc + p * BLOCK);
  if (AVX512_PX > 4 && p + 4 <= P) {
    avx512_group<4>(w, x + p, off + p, K, acc + p * BLOCK);
    p += 4;
  }
  if (p + 2 <= P) {
    avx512_group<2>(w, x + p, off + p, K, acc + p * BLOCK);
    p += 2;
  }
  if (p < P) avx512_group<1>(w, x + p, off + p, K, acc + p * BLOCK);
}

#endif  // MMBNN_X86

#if defined(__aarch64__)
// PX pixels x 8 channels per pass: popcount(x ^ w) as byte counts (vcntq_u8),
// summed in bytes for up to 31 words (31 * 8 = 248 < 256), then widened
// pairwise into 32-bit lanes (vpaddlq_u8, vpadalq_u16), which no K overflows.
template <int PX>
static inline void neon_pixels(const u64 *w, const u64 *const *x,
                               const int64_t *const *off, int K,
                               int32_t *acc) {
  uint32x4_t t[PX][4];
  for (int p = 0; p < PX; ++p)
    for (int j = 0; j < 4; ++j) t[p][j] = vdupq_n_u32(0);
  for (int k0 = 0; k0 < K; k0 += 31) {
    const int k1 = std::min(K, k0 + 31);
    uint8x16_t b[PX][4];
    for (int p = 0; p < PX; ++p)
      for (int j = 0; j < 4; ++j) b[p][j] = vdupq_n_u8(0);
    for (int k = k0; k < k1; ++k) {
      uint64x2_t wk[4];
      for (int j = 0; j < 4; ++j) wk[j] = vld1q_u64(w + BLOCK * k + 2 * j);
      for (int p = 0; p < PX; ++p) {
        const uint64x2_t xv = vdupq_n_u64(x[p][off[p][k]]);
        for (int j = 0; j < 4; ++j)
          b[p][j] = vaddq_u8(b[p][j], vcntq_u8(vreinterpretq_u8_u64(
                                          veorq_u64(wk[j], xv))));
      }
    }
    for (int p = 0; p < PX; ++p)
      for (int j = 0; j < 4; ++j)
        t[p][j] = vpadalq_u16(t[p][j], vpaddlq_u8(b[p][j]));
  }
  for (int p = 0; p < PX; ++p)
    for (int j = 0; j < 4; ++j) {  // lanes 0-1: channel 2j, 2-3: 2j + 1
      const uint64x2_t s = vpaddlq_u32(t[p][j]);
      acc[p * BLOCK + 2 * j] = (int32_t)vgetq_lane_u64(s, 0);
      acc[p * BLOCK + 2 * j + 1] = (int32_t)vgetq_lane_u64(s, 1);
    }
}

static void kernel_neon(const u64 *w, const u64 *, const u64 *,
                        const u64 *const *x, const u64 *const *,
                        const int64_t *const *off, int P, int K,
                        int32_t *acc) {
  int p = 0;
  for (; p + 2 <= P; p += 2)
    neon_pixels<2>(w, x + p, off + p, K, acc + p * BLOCK);
  for (; p < P; ++p) neon_pixels<1>(w, x + p, off + p, K, acc + p * BLOCK);
}
#endif  // __aarch64__

static Kernel pick(int isa) {
#ifdef MMBNN_X86
  if (isa == ISA_AVX512) return kernel_avx512;
  if (isa == ISA_AVX2) return kernel_avx2;
#endif
#if defined(__aarch64__)
  if (isa == ISA_NEON) return kernel_neon;
#endif
  return kernel_scalar;
}

// Sign bits (x >= 0) of n contiguous floats into ceil(n / 64) words.
static void pack_scalar(const float *x, int64_t n, u64 *d) {
  for (int64_t w = 0; w < (n + 63) / 64; ++w) {
    u64 word = 0;
    for (int64_t j = 0; j < 64 && w * 64 + j < n; ++j)
      word |= (u64)(x[w * 64 + j] >= 0.0f) << j;
    d[w] = word;
  }
}

#ifdef MMBNN_X86
__attribute__((target("avx2,popcnt"))) static void pack_avx2(const float *x,
                                                             int64_t n,
                                                             u64 *d) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t c = 0;
  for (int64_t w = 0; w < (n + 63) / 64; ++w) d[w] = 0;
  // _CMP_GE_OQ: false for NaN, true for -0, as (x >= 0) is.
  for (; c + 8 <= n; c += 8)
    d[c / 64] |= (u64)(unsigned)_mm256_movemask_ps(
                     _mm256_cmp_ps(_mm256_loadu_ps(x + c), zero, _CMP_GE_OQ))
                 << (c % 64);
  for (; c < n; ++c) d[c / 64] |= (u64)(x[c] >= 0.0f) << (c % 64);
}

// 16 floats a compare, straight into a mask register; the tail's lanes
// past n masked off (no bits, whatever they hold).
__attribute__((target("avx512f"))) static inline void pack_avx512(
    const float *x, int64_t n, u64 *d) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t w = 0; w * 64 < n; ++w) {
    u64 word = 0;
    for (int j = 0; j < 4; ++j) {
      const int64_t c = w * 64 + j * 16;
      if (c >= n) break;
      const __mmask16 live = n - c >= 16 ? (__mmask16)0xffff
                                         : (__mmask16)((1u << (n - c)) - 1);
      // _CMP_GE_OQ: false for NaN, true for -0, as (x >= 0) is.
      word |= (u64)_mm512_mask_cmp_ps_mask(
                  live, _mm512_maskz_loadu_ps(live, x + c), zero, _CMP_GE_OQ)
              << (16 * j);
    }
    d[w] = word;
  }
}

__attribute__((target("avx512f"))) static void pack_avx512_call(
    const float *x, int64_t n, u64 *d) {
  pack_avx512(x, n, d);
}

// W pixels of a channels-last float row (C = G * Cg channels a pixel) into
// their words, pixel after pixel in_words apart, each group from a new word.
__attribute__((target("avx512f"))) static void pack_row_avx512(
    const float *x, int64_t W, int64_t G, int64_t Cg, u64 *d,
    int64_t in_words) {
  const int64_t Cgw = (Cg + 63) / 64;
  for (int64_t ix = 0; ix < W; ++ix)
    for (int64_t g = 0; g < G; ++g)
      pack_avx512(x + (ix * G + g) * Cg, Cg, d + ix * in_words + g * Cgw);
}

#endif  // MMBNN_X86

typedef void (*Packer)(const float *, int64_t, u64 *);
static Packer pick_packer(int isa) {
#ifdef MMBNN_X86
  if (isa == ISA_AVX512) return pack_avx512_call;
  if (isa == ISA_AVX2) return pack_avx2;
#endif
  return pack_scalar;
}

// Sign bits of pixel p of a channels-last float tensor (pixel stride C,
// channel stride 1) into its G * Cgw words, each group's channels starting a
// new word.
static inline void pack_pixel(Packer pack, const float *x, int64_t p,
                              int64_t C, int64_t G, u64 *out) {
  const int64_t Cg = C / G, Cgw = (Cg + 63) / 64;
  for (int64_t g = 0; g < G; ++g)
    pack(x + p * C + g * Cg, Cg, out + (p * G + g) * Cgw);
}

// Sign bits of a channels-last float tensor [N, C, H, W] into
// [N, H, W, G * Cgw] words (P = N * H * W pixels).
extern "C" int mmbnn_pack(const float *x, int64_t P, int64_t C, int64_t G,
                          u64 *out, int isa, int threads) {
  if (!mmbnn_isa_supported(isa)) return -1;
  const Packer pack = pick_packer(isa);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t p = 0; p < P; ++p) pack_pixel(pack, x, p, C, G, out);
  return 0;
}

// The output transform of one 8-channel block along an output row: for each
// pixel x, y = alpha * dot, + beta, + residual, clipped, to dst[x * ld];
// y >= 0 into the pixel's bits from channel bit0.
struct RowOut {
  const float *alpha, *beta, *res;  // res: the block's first channel, pixel 0
  int64_t rc, rw;                    // residual strides: channel, pixel
  int clip;
  float *dst;
  int64_t ld, nj;
  u64 *bits;  // pixel 0's words, or null
  int64_t bit_ld, bit0;
};
typedef void (*Epilogue)(const RowOut &o, const int32_t *acc,
                         const int32_t *n_in, int64_t width);

static void epilogue_scalar(const RowOut &o, const int32_t *acc,
                            const int32_t *n_in, int64_t width) {
  for (int64_t x = 0; x < width; ++x) {
    const int32_t *a = acc + x * BLOCK;
    for (int64_t j = 0; j < o.nj; ++j) {
      float y = o.alpha[j] * (float)(n_in[x] - 2 * a[j]);
      y = y + o.beta[j];
      if (o.res) y = y + o.res[x * o.rw + j * o.rc];
      if (o.clip) y = std::min(1.0f, std::max(-1.0f, y));
      o.dst[x * o.ld + j] = y;
      if (o.bits && y >= 0.0f)
        o.bits[x * o.bit_ld + (o.bit0 + j) / 64] |= (u64)1 << ((o.bit0 + j) % 64);
    }
  }
}

#ifdef MMBNN_X86
__attribute__((target("avx2,popcnt"))) static void epilogue_avx2(
    const RowOut &o, const int32_t *acc, const int32_t *n_in, int64_t width) {
  if (o.nj != BLOCK || (o.res && o.rc != 1) || o.bit0 % 8) {
    epilogue_scalar(o, acc, n_in, width);
    return;
  }
  // The scalar path's operations in the same order (no FMA): same rounding.
  const __m256 alpha = _mm256_loadu_ps(o.alpha), beta = _mm256_loadu_ps(o.beta);
  const __m256 lo = _mm256_set1_ps(-1.0f), hi = _mm256_set1_ps(1.0f);
  for (int64_t x = 0; x < width; ++x) {
    const __m256i dot = _mm256_sub_epi32(
        _mm256_set1_epi32(n_in[x]),
        _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(acc + x * BLOCK)), 1));
    __m256 y = _mm256_mul_ps(alpha, _mm256_cvtepi32_ps(dot));
    y = _mm256_add_ps(y, beta);
    if (o.res) y = _mm256_add_ps(y, _mm256_loadu_ps(o.res + x * o.rw));
    if (o.clip) y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
    _mm256_storeu_ps(o.dst + x * o.ld, y);
    if (o.bits)
      o.bits[x * o.bit_ld + o.bit0 / 64] |=
          (u64)(unsigned)_mm256_movemask_ps(
              _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GE_OQ))
          << (o.bit0 % 64);
  }
}
#endif  // MMBNN_X86

static Epilogue pick_epilogue(int isa) {
#ifdef MMBNN_X86
  if (isa == ISA_AVX2 || isa == ISA_AVX512) return epilogue_avx2;
#endif
  return epilogue_scalar;
}

// A conv's work items: output rows, and when there are few rows for the
// threads (small maps), ranges of 64 output channels (one word of out_bits,
// so that no two threads write the same word) within a row. Returns the
// ranges a row; *per_chunk: the blocks of 8 channels a range.
static int64_t row_chunks(int64_t G, int64_t rows, int64_t blocks,
                          int threads, int64_t *per_chunk) {
  int64_t chunks = 1;
  if (G == 1 && rows < 4 * threads)
    chunks = std::min<int64_t>((blocks + 7) / 8, (4 * threads + rows - 1) / rows);
  *per_chunk = (((blocks + chunks - 1) / chunks + 7) / 8) * 8;
  return chunks;
}

#ifdef MMBNN_X86
// ---------------------------------------------------------------------------
// The AVX-512 layer path (full blocks of 8 output channels, a channels-last
// residual or none): the input's bits copied once into a zero-padded plane,
// so that every output pixel, border ones included, reads its patch in place
// at one shared offset table (no gathered copies); PX pixels x NB blocks a
// pass, the output transform applied from the registers. A padded tap's
// words are 0 and met popcount(w): the weights' counts of a pixel's padded
// taps (its mask, bit t for tap t) are subtracted before the transform.
// Two blocks make one 16-lane transform (their counts' low halves joined by
// one permute): half the instructions a channel of two 8-lane ones, which
// matters where K is small (a 64-channel 3x3 layer: 9 words a pixel); one
// block takes the low 8 lanes. The transform's operations are
// epilogue_avx2's, in its order: the same rounding. A pixel's NB * 8 sign
// bits are NB whole bytes.
struct RowArgs {
  const u64 *w;              // the first block's weights
  int64_t wb;                // words between blocks' weights
  const u64 *x;              // pixel 0's patch origin in the padded plane
  int64_t xs;                // words between pixels' origins
  const int64_t *off;        // the patch's K words, from its origin
  int K;
  const uint64_t *masks;     // each pixel's padded taps, or null: none
  const int32_t *wc;         // the first block's counts, [tap][8]; blocks
  int T;                     // T * 8 apart
  int32_t cg;                // input channels a tap
  const float *alpha, *beta;
  const float *res;          // pixel 0's residual, or null
  int64_t rw;
  int clip;
  float *dst;                // pixel 0's output
  int64_t ld;
  unsigned char *bits;       // pixel 0's first byte of sign bits, or null
  int64_t bit_ld;            // bytes between pixels' bits
};

template <int PX, int NB, bool RES, bool CLIP, bool BITS>
__attribute__((target("avx512f,avx512vpopcntdq,avx2"), always_inline)) static inline void
avx512_tile(const RowArgs &r, int64_t p0) {
  const u64 *__restrict w = r.w;
  const u64 *__restrict x = r.x + p0 * r.xs;
  const int64_t *__restrict off = r.off;
  const int64_t xs = r.xs, wb = r.wb;
  const int K = r.K;
  __m512i s[NB][PX];
#pragma GCC unroll 16
  for (int p = 0; p < PX; ++p)
    for (int b = 0; b < NB; ++b) s[b][p] = _mm512_setzero_si512();
  for (int k = 0; k < K; ++k) {
    __m512i wk[NB];
    for (int b = 0; b < NB; ++b) wk[b] = _mm512_loadu_si512(w + b * wb + BLOCK * k);
    const u64 *xk = x + off[k];
#pragma GCC unroll 16
    for (int p = 0; p < PX; ++p) {
      const __m512i v = _mm512_set1_epi64((long long)xk[p * xs]);
      for (int b = 0; b < NB; ++b)
        s[b][p] = _mm512_add_epi64(
            s[b][p], _mm512_popcnt_epi64(_mm512_xor_si512(wk[b], v)));
    }
  }
  const uint64_t *masks = r.masks ? r.masks + p0 : nullptr;
  const int32_t *__restrict wc = r.wc;
  const int T = r.T;
  const int32_t cg = r.cg, n_all = r.cg * r.T;
  const float *__restrict res = RES ? r.res + p0 * r.rw : nullptr;
  float *__restrict dst = r.dst + p0 * r.ld;
  unsigned char *__restrict bits = BITS ? r.bits + p0 * r.bit_ld : nullptr;
  const int64_t rw = r.rw, ld = r.ld, bit_ld = r.bit_ld;
  // The NB * 8 channels' lanes of a 16-lane register (one block: the low 8).
  const __mmask16 lanes = NB == 2 ? 0xffff : 0x00ff;
  const __m512 alpha = _mm512_maskz_loadu_ps(lanes, r.alpha);
  const __m512 beta = _mm512_maskz_loadu_ps(lanes, r.beta);
  const __m512i low_halves = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16,
                                               18, 20, 22, 24, 26, 28, 30);
#pragma GCC unroll 16
  for (int p = 0; p < PX; ++p) {
    __m512i a = _mm512_permutex2var_epi32(s[0][p], low_halves, s[NB - 1][p]);
    __m512i n_in = _mm512_set1_epi32(n_all);
    if (masks && masks[p]) {
      __m512i c = _mm512_setzero_si512();
      for (uint64_t m = masks[p]; m; m &= m - 1) {
        const int32_t *t = wc + 8 * __builtin_ctzll(m);
        c = _mm512_add_epi32(c, _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)t)),
            NB == 2 ? _mm256_loadu_si256((const __m256i *)(t + 8 * T))
                    : _mm256_setzero_si256(), 1));
      }
      a = _mm512_sub_epi32(a, c);
      n_in = _mm512_set1_epi32(cg * (T - __builtin_popcountll(masks[p])));
    }
    const __m512i dot = _mm512_sub_epi32(n_in, _mm512_slli_epi32(a, 1));
    __m512 y = _mm512_mul_ps(alpha, _mm512_cvtepi32_ps(dot));
    y = _mm512_add_ps(y, beta);
    if (RES) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(lanes, res + p * rw));
    if (CLIP)
      y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-1.0f)),
                        _mm512_set1_ps(1.0f));
    _mm512_mask_storeu_ps(dst + p * ld, lanes, y);
    if (BITS) {
      const uint16_t m = (uint16_t)_mm512_cmp_ps_mask(y, _mm512_setzero_ps(),
                                                      _CMP_GE_OQ);
      std::memcpy(bits + p * bit_ld, &m, NB);  // little-endian: low byte first
    }
  }
}

// A row of n pixels x NB blocks: 8 pixels a pass, the rest 4, 2 and 1.
template <int NB, bool RES, bool CLIP, bool BITS>
__attribute__((target("avx512f,avx512vpopcntdq,avx2"))) static void avx512_row(
    const RowArgs &r, int64_t n) {
  int64_t p = 0;
  for (; p + 8 <= n; p += 8) avx512_tile<8, NB, RES, CLIP, BITS>(r, p);
  if (p + 4 <= n) {
    avx512_tile<4, NB, RES, CLIP, BITS>(r, p);
    p += 4;
  }
  if (p + 2 <= n) {
    avx512_tile<2, NB, RES, CLIP, BITS>(r, p);
    p += 2;
  }
  if (p < n) avx512_tile<1, NB, RES, CLIP, BITS>(r, p);
}

typedef void (*RowFn)(const RowArgs &, int64_t);
static RowFn pick_avx512_row(int nb, bool res, bool clip, bool bits) {
#define ROWS(NB)                                                             \
  {avx512_row<NB, false, false, false>, avx512_row<NB, false, false, true>, \
   avx512_row<NB, false, true, false>,  avx512_row<NB, false, true, true>,  \
   avx512_row<NB, true, false, false>,  avx512_row<NB, true, false, true>,  \
   avx512_row<NB, true, true, false>,   avx512_row<NB, true, true, true>}
  static const RowFn fns[2][8] = {ROWS(1), ROWS(2)};
#undef ROWS
  return fns[nb - 1][res * 4 + clip * 2 + bits];
}

// Whether conv_avx512 takes a layer: full blocks, a residual (if any) with
// its channels contiguous, at most 64 taps (a pixel's mask is one word).
static bool avx512_takes(int isa, int64_t Og, const float *res, int64_t rc,
                         int64_t T) {
  return isa == ISA_AVX512 && Og % BLOCK == 0 && (!res || rc == 1) && T <= 64;
}

// mmbnn_conv on the AVX-512 layer path (its arguments; no nibbles).
static void conv_avx512(
    const u64 *in, const float *xf, int64_t N, int64_t H, int64_t W,
    const u64 *wblk, const int32_t *wpop, int64_t G, int64_t Cg, int64_t Og,
    int64_t KH, int64_t KW, int64_t sy, int64_t sx, int64_t py, int64_t px,
    int64_t dy, int64_t dx, const float *alpha, const float *beta,
    const float *res, int64_t rn, int64_t rh, int64_t rw, int clip, float *out,
    int64_t OH, int64_t OW, u64 *out_bits, int threads) {
  const int64_t Cgw = (Cg + 63) / 64, in_words = G * Cgw, T = KH * KW;
  const int64_t K = T * Cgw, blocks = Og / BLOCK, O = G * Og;
  const int64_t out_words = (O + 63) / 64;
  // The plane the kernels read: the input's bits with py rows and px columns
  // of zeros around them (the input itself if it is packed and unpadded).
  const int64_t Hp = H + 2 * py, Wp = W + 2 * px;
  const bool copy = !in || py || px;
  std::vector<u64> plane(copy ? N * Hp * Wp * in_words : 0);
  const u64 *src = copy ? plane.data() : in;
  std::vector<int64_t> off(K);
  for (int64_t ky = 0; ky < KH; ++ky)
    for (int64_t kx = 0; kx < KW; ++kx)
      for (int64_t i = 0; i < Cgw; ++i)
        off[(ky * KW + kx) * Cgw + i] = (ky * dy * Wp + kx * dx) * in_words + i;
  // Each output column's padded kernel columns (bit kx).
  std::vector<uint64_t> col_out(OW);
  for (int64_t ox = 0; ox < OW; ++ox) {
    uint64_t m = 0;
    for (int64_t kx = 0; kx < KW; ++kx) {
      const int64_t ix = ox * sx - px + kx * dx;
      if (ix < 0 || ix >= W) m |= (uint64_t)1 << kx;
    }
    col_out[ox] = m;
  }
  int64_t per_chunk;
  const int64_t chunks = row_chunks(G, N * OH, blocks, threads, &per_chunk);
  if (out_bits) std::memset(out_bits, 0, sizeof(u64) * N * OH * OW * out_words);
  const RowFn row2 = pick_avx512_row(2, res, clip, out_bits);
  const RowFn row1 = pick_avx512_row(1, res, clip, out_bits);
#pragma omp parallel num_threads(threads)
  {
    if (copy) {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < N * H; ++r) {
        u64 *d = plane.data() + ((r / H * Hp + r % H + py) * Wp + px) * in_words;
        if (in)
          std::memcpy(d, in + r * W * in_words, sizeof(u64) * W * in_words);
        else
          pack_row_avx512(xf + r * W * G * Cg, W, G, Cg, d, in_words);
      }
    }
    std::vector<uint64_t> masks(OW);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < N * OH * chunks; ++item) {
      const int64_t row = item / chunks, b_begin = (item % chunks) * per_chunk;
      const int64_t b_end = std::min(blocks, b_begin + per_chunk);
      const int64_t n = row / OH, oy = row % OH;
      uint64_t row_out = 0;  // padded kernel rows (bit ky)
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * sy - py + ky * dy;
        if (iy < 0 || iy >= H) row_out |= (uint64_t)1 << ky;
      }
      bool any = false;
      for (int64_t ox = 0; ox < OW; ++ox) {
        uint64_t m = 0;
        if (row_out | col_out[ox])
          for (int64_t ky = 0; ky < KH; ++ky)
            for (int64_t kx = 0; kx < KW; ++kx)
              if ((row_out >> ky | col_out[ox] >> kx) & 1)
                m |= (uint64_t)1 << (ky * KW + kx);
        masks[ox] = m;
        any = any || m;
      }
      for (int64_t g = 0; g < G; ++g) {
        const u64 *x = src + ((n * Hp + oy * sy) * Wp) * in_words + g * Cgw;
        for (int64_t b = b_begin; b < b_end;) {
          const int nb = b + 1 < b_end ? 2 : 1;
          const int64_t gb = g * blocks + b, o0 = g * Og + b * BLOCK;
          const RowArgs r = {
              wblk + gb * K * BLOCK, K * BLOCK, x, sx * in_words, off.data(),
              (int)K, any ? masks.data() : nullptr, wpop + gb * T * BLOCK,
              (int)T, (int32_t)Cg, alpha + o0, beta + o0,
              res ? res + n * rn + o0 + oy * rh : nullptr, rw, clip,
              out + (row * OW) * O + o0, O,
              out_bits ? reinterpret_cast<unsigned char *>(
                             out_bits + row * OW * out_words) + o0 / 8
                       : nullptr,
              (int64_t)sizeof(u64) * out_words};
          (nb == 2 ? row2 : row1)(r, OW);
          b += nb;
        }
      }
    }
  }
}
#endif  // MMBNN_X86

// Binary convolution of packed activations (in; or, if in is null, of the
// sign bits of xf, a channels-last float tensor, packed here) with packed
// weights, and the
// layer's output transform: y = alpha[o] * dot + beta[o] (+ residual), clipped
// to [-1, 1] if clip (Hardtanh), written as float to out ([N, OH, OW, O],
// channels-last) and, if out_bits, as the sign bits the next binary layer
// (groups 1) reads. Returns 0, or -1 for an unsupported instruction set.
extern "C" int mmbnn_conv(
    const u64 *in, const float *xf, int64_t N, int64_t H, int64_t W,
    const u64 *wblk, const u64 *wlo, const u64 *whi, const int32_t *wpop,
    int64_t G, int64_t Cg, int64_t Og, int64_t KH, int64_t KW, int64_t sy,
    int64_t sx, int64_t py, int64_t px, int64_t dy, int64_t dx,
    const float *alpha, const float *beta, const float *res, int64_t rn,
    int64_t rc, int64_t rh, int64_t rw, int clip, float *out, int64_t OH,
    int64_t OW, u64 *out_bits, int isa, int threads) {
  if (!mmbnn_isa_supported(isa)) return -1;
#ifdef MMBNN_X86
  if (avx512_takes(isa, Og, res, rc, KH * KW)) {
    conv_avx512(in, xf, N, H, W, wblk, wpop, G, Cg, Og, KH, KW, sy, sx, py, px,
                dy, dx, alpha, beta, res, rn, rh, rw, clip, out, OH, OW,
                out_bits, threads);
    return 0;
  }
#endif
  const Kernel kernel = pick(isa);
  const Packer pack = pick_packer(isa);
  const Epilogue epilogue = pick_epilogue(isa);
  const int64_t Cgw = (Cg + 63) / 64, in_words = G * Cgw, T = KH * KW;
  const int64_t K = T * Cgw, blocks = (Og + BLOCK - 1) / BLOCK, O = G * Og;
  const int64_t out_words = (O + 63) / 64, pixels = N * H * W;
  // What the kernels read: the input's bits (packed here from xf if in is
  // null), or for AVX2 their low and high nibbles.
  const bool split = isa == ISA_AVX2;
  std::vector<u64> own(in ? 0 : pixels * in_words);
  std::vector<u64> in_lo(split ? pixels * in_words : 0),
      in_hi(split ? pixels * in_words : 0);
  const u64 *bits_in = in ? in : own.data();
  const u64 *xa = split ? in_lo.data() : bits_in;
  const u64 *xb = split ? in_hi.data() : nullptr;
  // Word k of a patch: at off[k] from its first word in the input, or at k
  // in a gathered (zero-padded) copy.
  std::vector<int64_t> off(K), ident(K);
  for (int64_t ky = 0; ky < KH; ++ky)
    for (int64_t kx = 0; kx < KW; ++kx)
      for (int64_t i = 0; i < Cgw; ++i) {
        const int64_t k = (ky * KW + kx) * Cgw + i;
        off[k] = (ky * dy * W + kx * dx) * in_words + i;
        ident[k] = k;
      }
  // Output columns whose taps all fall inside the input's width: [cx0, cx1).
  const int64_t cx0 = std::min<int64_t>(OW, (px + sx - 1) / sx);
  const int64_t right = W - 1 - (KW - 1) * dx + px;
  const int64_t cx1 = std::max<int64_t>(
      cx0, std::min<int64_t>(OW, right < 0 ? 0 : right / sx + 1));
  int64_t per_chunk;
  const int64_t chunks = row_chunks(G, N * OH, blocks, threads, &per_chunk);
  if (out_bits) std::memset(out_bits, 0, sizeof(u64) * N * OH * OW * out_words);
#pragma omp parallel num_threads(threads)
  {
    // One parallel region per call: each pass ends at the loop's barrier.
    if (!in) {
#pragma omp for schedule(static)
      for (int64_t p = 0; p < pixels; ++p)
        pack_pixel(pack, xf, p, G * Cg, G, own.data());
    }
    if (split) {
      const u64 nibbles = 0x0f0f0f0f0f0f0f0fULL;
#pragma omp for schedule(static)
      for (int64_t i = 0; i < pixels * in_words; ++i) {
        in_lo[i] = bits_in[i] & nibbles;
        in_hi[i] = (bits_in[i] >> 4) & nibbles;
      }
    }
    std::vector<u64> patch(OW * K), patch_hi(split ? OW * K : 0);
    std::vector<unsigned char> valid(OW * T);
    std::vector<int32_t> nvalid(OW), n_in(OW), acc(OW * BLOCK);
    std::vector<const u64 *> pa(OW), pb(OW);
    std::vector<const int64_t *> po(OW);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < N * OH * chunks; ++item) {
      const int64_t row = item / chunks, b_begin = (item % chunks) * per_chunk;
      const int64_t b_end = std::min(blocks, b_begin + per_chunk);
      const int64_t n = row / OH, oy = row % OH;
      float *orow = out + row * OW * O;
      u64 *brow = out_bits ? out_bits + row * OW * out_words : nullptr;
      bool rows_inside = true;
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * sy - py + ky * dy;
        rows_inside = rows_inside && iy >= 0 && iy < H;
      }
      // Interior pixels [lo, hi) are read in place; the others are gathered.
      const int64_t lo = rows_inside ? cx0 : OW, hi = rows_inside ? cx1 : OW;
      for (int64_t g = 0; g < G; ++g) {
        const int64_t plane = n * H * W * in_words + g * Cgw;
        for (int64_t ox = 0; ox < OW; ++ox) {
          if (ox == lo) ox = hi;
          if (ox >= OW) break;
          int32_t count = 0;
          for (int64_t ky = 0; ky < KH; ++ky)
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t iy = oy * sy - py + ky * dy;
              const int64_t ix = ox * sx - px + kx * dx;
              const int64_t tap = ky * KW + kx;
              const bool ok = iy >= 0 && iy < H && ix >= 0 && ix < W;
              valid[ox * T + tap] = ok;
              count += ok;
              u64 *da = patch.data() + ox * K + tap * Cgw;
              u64 *db = split ? patch_hi.data() + ox * K + tap * Cgw : nullptr;
              if (ok) {
                const int64_t at = plane + (iy * W + ix) * in_words;
                for (int64_t i = 0; i < Cgw; ++i) da[i] = xa[at + i];
                if (db)
                  for (int64_t i = 0; i < Cgw; ++i) db[i] = xb[at + i];
              } else {
                std::memset(da, 0, sizeof(u64) * Cgw);
                if (db) std::memset(db, 0, sizeof(u64) * Cgw);
              }
            }
          nvalid[ox] = count;
        }
        for (int64_t ox = lo; ox < hi; ++ox) nvalid[ox] = (int32_t)T;
        for (int64_t ox = 0; ox < OW; ++ox) n_in[ox] = (int32_t)(Cg * nvalid[ox]);
        for (int64_t ox = 0; ox < OW; ++ox) {  // where each patch lies
          if (ox >= lo && ox < hi) {
            const int64_t at = plane + ((oy * sy - py) * W + ox * sx - px) * in_words;
            pa[ox] = xa + at;
            pb[ox] = split ? xb + at : nullptr;
            po[ox] = off.data();
          } else {
            pa[ox] = patch.data() + ox * K;
            pb[ox] = split ? patch_hi.data() + ox * K : nullptr;
            po[ox] = ident.data();
          }
        }
        // Block b's pixels [x0, x1) through the kernel, the padded taps'
        // correction and the output transform.
        auto run = [&](int64_t b, int64_t x0, int64_t x1) {
          if (x1 <= x0) return;
          const int64_t wo = (g * blocks + b) * K * BLOCK, o0 = g * Og + b * BLOCK;
          const int64_t nj = std::min<int64_t>(BLOCK, Og - b * BLOCK);
          int32_t *a0 = acc.data() + x0 * BLOCK;
          kernel(wblk + wo, wlo + wo, whi + wo, pa.data() + x0, pb.data() + x0,
                 po.data() + x0, (int)(x1 - x0), (int)K, a0);
          for (int64_t ox = x0; ox < x1; ++ox) {
            if (nvalid[ox] == T) continue;
            int32_t *a = acc.data() + ox * BLOCK;  // padded taps: take their
            for (int64_t tap = 0; tap < T; ++tap)  // weights' counts out
              if (!valid[ox * T + tap])
                for (int64_t j = 0; j < nj; ++j)
                  a[j] -= wpop[((g * blocks + b) * T + tap) * BLOCK + j];
          }
          const float *r = res ? res + n * rn + o0 * rc + oy * rh + x0 * rw : nullptr;
          RowOut ro = {alpha + o0, beta + o0, r, rc, rw, clip, orow + o0 + x0 * O,
                       O, nj, brow ? brow + x0 * out_words : nullptr, out_words,
                       o0};
          epilogue(ro, a0, n_in.data() + x0, x1 - x0);
        };
        for (int64_t b = b_begin; b < b_end; ++b) run(b, 0, OW);
      }
    }
  }
  return 0;
}

// mmbnn_conv with its 34 arguments in one array, in mmbnn_conv's order,
// pointers as addresses (0 for null).
static int conv_args(const int64_t *a) {
  auto p = [a](int i) { return reinterpret_cast<void *>(a[i]); };
  return mmbnn_conv(
      static_cast<const u64 *>(p(0)), static_cast<const float *>(p(1)), a[2],
      a[3], a[4], static_cast<const u64 *>(p(5)),
      static_cast<const u64 *>(p(6)), static_cast<const u64 *>(p(7)),
      static_cast<const int32_t *>(p(8)), a[9], a[10], a[11], a[12], a[13],
      a[14], a[15], a[16], a[17], a[18], a[19],
      static_cast<const float *>(p(20)), static_cast<const float *>(p(21)),
      static_cast<const float *>(p(22)), a[23], a[24], a[25], a[26],
      static_cast<int>(a[27]), static_cast<float *>(p(28)), a[29], a[30],
      static_cast<u64 *>(p(31)), static_cast<int>(a[32]),
      static_cast<int>(a[33]));
}

// count convs run one after another in one foreign call, each reading the
// previous one's output bits as its input and adding its float output as
// the residual (a chain of fused Bi-Real convs with identity shortcuts; a
// single conv is a chain of one). args holds each conv's 34 arguments
// (conv_args's array, prepared once for an input shape by
// mmbnn/ops/xnor_conv.py's ConvCall; its addresses are ignored), io the
// call's own addresses: the first conv's packed input bits, float input and
// residual, the last conv's output and output bits (0 for none), and
// scratch, where the convs before the last write theirs (each output, 64-byte
// aligned, then its bits: chain_scratch_bytes). shortcut, if not null, holds
// mmbnn_pool_int8_conv's 16 arguments (as int64: inv_scale's float bits;
// its input and output addresses ignored): the first conv's residual is then
// that pooled int8 conv of the float input (a downsample shortcut), computed
// here into the scratch's first slot. The prepared arrays are only read, so
// threads may share them. Returns 0, or the first failing status.
extern "C" int mmbnn_pool_int8_conv(const float *x, int64_t N, int64_t H,
                                    int64_t W, int64_t C, const int8_t *w,
                                    const int32_t *wsum, int64_t O,
                                    float inv_scale, int zp,
                                    const float *alpha, const float *beta,
                                    float *out, int pool, int amx, int isa,
                                    int threads);

static int64_t aligned64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

// A conv's slot in a chain's scratch (a: its 34 arguments): its output's
// bytes, 64-byte aligned (its bits follow), and the slot's whole size.
static int64_t chain_slot(const int64_t *a, int64_t *out_bytes) {
  const int64_t pixels = a[2] * a[29] * a[30], O = a[9] * a[11];
  *out_bytes = aligned64(pixels * O * 4);
  return *out_bytes + aligned64(pixels * ((O + 63) / 64) * 8);
}

// The shortcut's output bytes, 64-byte aligned (s: its 16 arguments).
static int64_t shortcut_slot(const int64_t *s) {
  return aligned64(s[1] * (s[2] / 2) * (s[3] / 2) * s[7] * 4);
}

extern "C" int64_t mmbnn_chain_scratch_bytes(const int64_t *args,
                                             int64_t count,
                                             const int64_t *shortcut) {
  int64_t bytes = shortcut ? shortcut_slot(shortcut) : 0, out_bytes;
  for (int64_t i = 0; i + 1 < count; ++i)
    bytes += chain_slot(args + 34 * i, &out_bytes);
  return bytes;
}

extern "C" int mmbnn_conv_chain(const int64_t *args, int64_t count,
                                const int64_t *io, const int64_t *shortcut) {
  int64_t bits_in = io[0], x = io[1], res = io[2], scratch = io[5];
  if (shortcut) {
    const int64_t *s = shortcut;
    float inv_scale;
    const uint32_t inv_bits = (uint32_t)s[8];
    std::memcpy(&inv_scale, &inv_bits, sizeof inv_scale);
    res = scratch;
    if (const int status = mmbnn_pool_int8_conv(
            reinterpret_cast<const float *>(x), s[1], s[2], s[3], s[4],
            reinterpret_cast<const int8_t *>(s[5]),
            reinterpret_cast<const int32_t *>(s[6]), s[7], inv_scale,
            (int)s[9], reinterpret_cast<const float *>(s[10]),
            reinterpret_cast<const float *>(s[11]),
            reinterpret_cast<float *>(res), 2, (int)s[13], (int)s[14],
            (int)s[15]))
      return status;
    scratch += shortcut_slot(s);
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t a[34];
    std::memcpy(a, args + 34 * i, sizeof a);
    int64_t out = io[3], bits = io[4];
    if (i + 1 < count) {
      int64_t out_bytes;
      const int64_t slot = chain_slot(a, &out_bytes);
      out = scratch;
      bits = scratch + out_bytes;
      scratch += slot;
    }
    a[0] = bits_in, a[1] = x, a[22] = res, a[28] = out, a[31] = bits;
    if (const int status = conv_args(a)) return status;
    bits_in = bits, x = 0, res = out;
  }
  return 0;
}

// chains prepared chains run one after another in one foreign call (a
// frozen backbone's stages: mmbnn/deploy/convert.py): chain c > 0 reads
// chain c - 1's output (its float output as its input, its bits as its
// packed input, and its float output as its residual where it has no
// shortcut). args[c], counts[c], shortcuts[c]: chain c's mmbnn_conv_chain
// arguments; io: the first chain's packed bits, float input and residual,
// the scratch (the largest of the chains' chain_scratch_bytes: they run one
// at a time), then each chain's output and bits. Returns 0, or the first
// failing status.
extern "C" int mmbnn_conv_chains(const int64_t *const *args,
                                 const int64_t *counts,
                                 const int64_t *const *shortcuts,
                                 int64_t chains, const int64_t *io) {
  int64_t bits_in = io[0], x = io[1], res = io[2];
  for (int64_t c = 0; c < chains; ++c) {
    const int64_t own[6] = {bits_in, x, res, io[4 + 2 * c], io[5 + 2 * c],
                            io[3]};
    if (const int status =
            mmbnn_conv_chain(args[c], counts[c], own, shortcuts[c]))
      return status;
    bits_in = own[4], x = own[3], res = own[3];
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The machine's ceilings, for the runtime benchmark: a register-only loop of
// one instruction set's XNOR-popcount step (XOR, popcount, add: what its conv
// kernel does per word) or of fp32 fused multiply-adds, on independent
// accumulators, timed here. An empty asm statement marks each operand as
// changed on every iteration, so nothing is hoisted out of the loop, at no
// cost in instructions. Returns operations per second (bit-MACs: one per
// bit of an XOR-popcount word; MACs: one per FMA lane), or -1 where the
// path is not supported (or has no such loop here).

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

static volatile u64 peak_sink;  // keeps the accumulators' results alive

// The loops name their accumulators one by one (REPn expands M(0) ... M(n-1)):
// indexed arrays stay in memory across the empty asm statements.
#define REP6(M) M(0) M(1) M(2) M(3) M(4) M(5)
#define REP8(M) REP6(M) M(6) M(7)
#define REP12(M) REP8(M) M(8) M(9) M(10) M(11)

static double peak_scalar_xnor(int64_t iters) {
  const u64 w = 0x5555555555555555ULL;
#define DECL(i) u64 s##i = 0, x##i = 0x9e3779b97f4a7c15ULL * (i + 1);
  REP8(DECL)
#undef DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(i) asm volatile("" : "+r"(x##i)); s##i += __builtin_popcountll(x##i ^ w);
    REP8(STEP)
#undef STEP
  }
  const double t = seconds_since(t0);
#define SUM(i) + s##i
  peak_sink = 0 REP8(SUM);
#undef SUM
  return t;
}

#ifdef MMBNN_X86
__attribute__((target("avx512f,avx512vpopcntdq"))) static double
peak_avx512_xnor(int64_t iters) {
  const __m512i w = _mm512_set1_epi64(0x5555555555555555LL);
#define DECL(i) __m512i s##i = _mm512_setzero_si512(), \
    x##i = _mm512_set1_epi64((long long)(0x9e3779b97f4a7c15ULL * (i + 1)));
  REP12(DECL)
#undef DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(i) asm volatile("" : "+v"(x##i)); \
    s##i = _mm512_add_epi64(s##i, _mm512_popcnt_epi64(_mm512_xor_si512(x##i, w)));
    REP12(STEP)
#undef STEP
  }
  const double t = seconds_since(t0);
  __m512i sum = _mm512_setzero_si512();
#define SUM(i) sum = _mm512_add_epi64(sum, s##i);
  REP12(SUM)
#undef SUM
  peak_sink = (u64)_mm512_reduce_add_epi64(sum);
  return t;
}

__attribute__((target("avx512f"))) static double peak_avx512_fma(int64_t iters) {
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)i);
  REP12(DECL)
#undef DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
    REP12(STEP)
#undef STEP
  }
  const double t = seconds_since(t0);
  __m512 sum = _mm512_setzero_ps();
#define SUM(i) sum = _mm512_add_ps(sum, a##i);
  REP12(SUM)
#undef SUM
  peak_sink = (u64)_mm512_reduce_add_ps(sum);
  return t;
}

// The AVX2 kernel's step: the nibbles of a 256-bit word looked up with
// VPSHUFB (two lookups per word), byte counts summed with VPSADBW every 31
// words; 6 accumulators, as many as 16 ymm registers hold with the operands.
__attribute__((target("avx2"))) static double peak_avx2_xnor(int64_t iters) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                                       3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i wl = _mm256_set1_epi8(0x05), wh = _mm256_set1_epi8(0x0a);
  const __m256i zero = _mm256_setzero_si256();
#define DECL(i) __m256i acc##i = zero, xl##i = _mm256_set1_epi8((char)(i + 1)), \
    xh##i = _mm256_set1_epi8((char)(7 - i));
  REP6(DECL)
#undef DECL
  const int64_t rounds = iters / 31;  // iters: a multiple of 31
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
#define DECL(i) __m256i b##i = zero;
    REP6(DECL)
#undef DECL
    for (int k = 0; k < 31; ++k) {
#define STEP(i) asm volatile("" : "+x"(xl##i), "+x"(xh##i)); \
      b##i = _mm256_add_epi8(b##i, _mm256_add_epi8(                     \
          _mm256_shuffle_epi8(lut, _mm256_xor_si256(xl##i, wl)),        \
          _mm256_shuffle_epi8(lut, _mm256_xor_si256(xh##i, wh))));
      REP6(STEP)
#undef STEP
    }
#define FLUSH(i) acc##i = _mm256_add_epi64(acc##i, _mm256_sad_epu8(b##i, zero));
    REP6(FLUSH)
#undef FLUSH
  }
  const double sec = seconds_since(t0);
  alignas(32) u64 out[4];
  __m256i sum = zero;
#define SUM(i) sum = _mm256_add_epi64(sum, acc##i);
  REP6(SUM)
#undef SUM
  _mm256_store_si256(reinterpret_cast<__m256i *>(out), sum);
  peak_sink = out[0] + out[1] + out[2] + out[3];
  return sec;
}

__attribute__((target("avx2,fma"))) static double peak_avx2_fma(int64_t iters) {
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)i);
  REP12(DECL)
#undef DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
    REP12(STEP)
#undef STEP
  }
  const double t = seconds_since(t0);
  alignas(32) float out[8];
  __m256 sum = _mm256_setzero_ps();
#define SUM(i) sum = _mm256_add_ps(sum, a##i);
  REP12(SUM)
#undef SUM
  _mm256_store_ps(out, sum);
  peak_sink = (u64)out[0];
  return t;
}
#endif  // MMBNN_X86

#if defined(__aarch64__)
static double peak_neon_xnor(int64_t iters) {
  const uint64x2_t w = vdupq_n_u64(0x5555555555555555ULL);
#define DECL(i) uint32x4_t acc##i = vdupq_n_u32(0); \
    uint64x2_t x##i = vdupq_n_u64(0x9e3779b97f4a7c15ULL * (i + 1));
  REP12(DECL)
#undef DECL
  const int64_t rounds = iters / 31;  // iters: a multiple of 31
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
#define DECL(i) uint8x16_t b##i = vdupq_n_u8(0);
    REP12(DECL)
#undef DECL
    for (int k = 0; k < 31; ++k) {
#define STEP(i) asm volatile("" : "+w"(x##i)); \
      b##i = vaddq_u8(b##i, vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x##i, w))));
      REP12(STEP)
#undef STEP
    }
#define FLUSH(i) acc##i = vpadalq_u16(acc##i, vpaddlq_u8(b##i));
    REP12(FLUSH)
#undef FLUSH
  }
  const double sec = seconds_since(t0);
  u64 sum = 0;
#define SUM(i) sum += vaddvq_u32(acc##i);
  REP12(SUM)
#undef SUM
  peak_sink = sum;
  return sec;
}

static double peak_neon_fma(int64_t iters) {
  const float32x4_t m = vdupq_n_f32(0.999f), c = vdupq_n_f32(1e-3f);
#define DECL(i) float32x4_t a##i = vdupq_n_f32((float)i);
  REP12(DECL)
#undef DECL
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) {
#define STEP(i) a##i = vfmaq_f32(c, a##i, m);
    REP12(STEP)
#undef STEP
  }
  const double t = seconds_since(t0);
  float sum = 0;
#define SUM(i) sum += vaddvq_f32(a##i);
  REP12(SUM)
#undef SUM
  peak_sink = (u64)sum;
  return t;
}
#endif  // __aarch64__

typedef double (*PeakLoop)(int64_t iters);  // seconds for iters iterations

// Path ``isa``'s loop of ``kind`` and its operations per iteration in
// *ops_out (null where there is none).
static PeakLoop peak_loop(int isa, int kind, double *ops_out) {
  PeakLoop loop = nullptr;
  double ops = 0;  // per iteration: accumulators x bits (or fp32 lanes)
#ifdef MMBNN_X86
  if (isa == ISA_AVX512) {
    loop = kind ? peak_avx512_fma : peak_avx512_xnor;
    ops = kind ? 12 * 16 : 12 * 512;
  } else if (isa == ISA_AVX2) {
    loop = kind ? peak_avx2_fma : peak_avx2_xnor;
    ops = kind ? 12 * 8 : 6 * 256;
  }
#endif
#if defined(__aarch64__)
  if (isa == ISA_NEON) {
    loop = kind ? peak_neon_fma : peak_neon_xnor;
    ops = kind ? 12 * 4 : 12 * 128;
  }
#endif
  if (isa == ISA_SCALAR && kind == 0) {
    loop = peak_scalar_xnor;
    ops = 8 * 64;
  }
  *ops_out = ops;
  return loop;
}

// kind 0: XNOR-popcount bit-MACs per second; 1: fp32 MACs per second. Runs
// of about seconds / 16 (iterations doubled until a run takes that long),
// the fastest of 15 counting: on a shared machine a short run is less often
// interrupted, and the fastest is the core's own rate.
// On ``threads`` threads at once (threads > 1), each runs the same number of
// iterations from a common start, timed around them all: operations of all
// threads per second of the slowest. Whether the cores really double the
// rate (or share one core's units, as hyper-threads do) is what a
// many-thread speedup can be held against. One thread: the loop's own timing.
extern "C" double mmbnn_peak_threads(int isa, int kind, double seconds,
                                     int threads) {
  if (!mmbnn_isa_supported(isa) || threads < 1) return -1.0;
  double ops = 0;
  PeakLoop loop = peak_loop(isa, kind, &ops);
  if (!loop) return -1.0;
  int64_t iters = 31 << 8;
  while (loop(iters) < seconds / 16) iters *= 2;
  double best = 0;
  for (int r = 0; r < 15; ++r) {
    double t;
    if (threads == 1) {
      t = loop(iters);
    } else {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
      loop(iters);
      t = seconds_since(t0);
    }
    best = std::max(best, threads * iters * ops / t);
  }
  return best;
}

extern "C" double mmbnn_peak(int isa, int kind, double seconds) {
  return mmbnn_peak_threads(isa, kind, seconds, 1);
}

// ---------------------------------------------------------------------------
// AMX (Intel's tile matrix multiply), for the int8 steps of the runtime.
#if defined(MMBNN_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define MMBNN_AMX 1

// Whether this CPU has AMX-INT8 (and AVX-512 BW, VBMI2 for the plane) and
// Linux lets this process use the tile data (asked once: arch_prctl
// ARCH_REQ_XCOMP_PERM).
static bool amx_usable() {
  static const bool usable = [] {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
                     : "a"(7), "c"(0));
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return false;  // tile, int8
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vbmi2"))
      return false;
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  }();
  return usable;
}

struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// The tiles of the int8 kernels below (the shortcut's, the stem's): 0-3
// the sums of 16 pixels x 16 channels (groups 0-3); 4, 5: 16 pixels' 64
// input bytes (steps alternate); 6, 7: weights (64 inputs x 16 channels;
// groups alternate). All 16 rows of 64 bytes.
__attribute__((target("amx-tile"))) static void amx_tiles_on() {
  TileConfig cfg = {};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  // GCC 12 takes _tile_loadconfig to read only the first bytes and drops
  // the stores above: make them happen.
  __asm__ volatile("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}

__attribute__((target("amx-tile"))) static void amx_tiles_off() {
  _tile_release();
}
#endif  // AMX

// ---------------------------------------------------------------------------
// The int8 runtime's downsample shortcut in one pass (deploy/int8.py,
// docs/deploy.md): an f x f average pool (stride f: f = 2 for a downsample
// shortcut, 1 for none: a linear layer, the input's size: a global pool
// before a linear layer) of a channels-last float input [N, H, W, C], each
// window summed row by row in float and divided by its area, as PyTorch's
// avg_pool2d does, quantized to uint8 as PyTorch's quantize_per_tensor
// does (round-half-even of x * (1 / scale), + zero point, clamped to
// 0..255), then a 1x1 conv with int8 weights: out[o] = alpha[o] * (float)(
// sum_c q[c] w[o][c] - zp * wsum[o]) + beta[o], float32 [N, H/f, W/f, O].
// The integer sum is exact on every path (|sum| < 2^24 for C <= 512), and the
// transform rounds the same on each, so the paths agree bit for bit.
// Weights: [ceil(O/16)][Cq = ceil(C/4)][16 channels][4 inputs] int8, zero in
// the padding; on AVX-512 VNNI one 64-byte row is a vpdpbusd operand.

// 1 where the pooled int8 conv has a native path for ``isa``: scalar always;
// AVX-512 needs VNNI.
extern "C" int mmbnn_int8_supported(int isa) {
  if (isa == ISA_SCALAR) return 1;
#ifdef MMBNN_X86
  __builtin_cpu_init();
  if (isa == ISA_AVX512)
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vnni");
#endif
  return 0;
}

struct PoolInt8 {
  const float *x;
  int64_t f;  // the pool: f x f, stride f (1: none)
  int64_t H, W, C, OH, OW, O, Cq;
  const int8_t *w;
  const int32_t *wsum;
  float inv_scale;
  int zp;
  const float *alpha, *beta;
};

// v quantized as quantize_per_tensor does with 1 / scale = inv.
static inline uint8_t quantize_u8(float v, float inv, int zp) {
  float t = v * inv;
  t = std::min(std::max(t, -1e9f), 1e9f);  // saturates below anyway
  const int32_t q = (int32_t)std::nearbyint(t) + zp;
  return (uint8_t)std::min(255, std::max(0, q));
}

// Row oy of image n, pooled and quantized: q[ox * Cq * 4 + c], the padding
// channels 0.
static void pool_quantize_row(const PoolInt8 &a, int64_t n, int64_t oy,
                              uint8_t *q) {
  const int64_t Cp = a.Cq * 4;
  const float area = (float)(a.f * a.f);
  for (int64_t ox = 0; ox < a.OW; ++ox) {
    const float *p = a.x + ((n * a.H + a.f * oy) * a.W + a.f * ox) * a.C;
    uint8_t *d = q + ox * Cp;
    for (int64_t c = 0; c < a.C; ++c) {
      // PyTorch's order: the window's sum row by row, then divided.
      float v = p[c];
      for (int64_t dy = 0; dy < a.f; ++dy)
        for (int64_t dx = dy ? 0 : 1; dx < a.f; ++dx)
          v += p[(dy * a.W + dx) * a.C + c];
      if (a.f > 1) v /= area;
      d[c] = quantize_u8(v, a.inv_scale, a.zp);
    }
    for (int64_t c = a.C; c < Cp; ++c) d[c] = 0;
  }
}

#ifdef MMBNN_X86
// quantize_u8's steps after the multiply by 1 / scale, 16 lanes (int32),
// but the clamp to [0, 255] (which saturating packs may give instead).
__attribute__((target("avx512f"), always_inline)) static inline __m512i
quantize_unclamped_avx512(__m512 t, __m512i zp) {
  t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-1e9f)),
                    _mm512_set1_ps(1e9f));
  return _mm512_add_epi32(_mm512_cvtps_epi32(t), zp);
}

// quantize_u8's steps after the multiply by 1 / scale, 16 lanes (int32).
__attribute__((target("avx512f"), always_inline)) static inline __m512i
quantize_scaled_avx512(__m512 t, __m512i zp) {
  return _mm512_min_epi32(
      _mm512_max_epi32(quantize_unclamped_avx512(t, zp),
                       _mm512_setzero_si512()),
      _mm512_set1_epi32(255));
}

// The int8 steps' output transform, 16 channels from o0 (lanes from O on
// masked off): y = alpha * (float)(sum - zp * wsum) + beta, rounded as the
// scalar paths round it (each step apart). Its constants, then a pixel's.
struct Int8Affine {
  __mmask16 m;
  __m512i corr;
  __m512 alpha, beta;
};

__attribute__((target("avx512f"), always_inline)) static inline Int8Affine
int8_affine(int zp, const int32_t *wsum, const float *alpha,
            const float *beta, int64_t o0, int64_t O) {
  const int64_t left = O - o0;
  const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF
                                 : (__mmask16)((1u << left) - 1);
  return {m,
          _mm512_mullo_epi32(_mm512_set1_epi32(zp),
                             _mm512_maskz_loadu_epi32(m, wsum + o0)),
          _mm512_maskz_loadu_ps(m, alpha + o0),
          _mm512_maskz_loadu_ps(m, beta + o0)};
}

__attribute__((target("avx512f"), always_inline)) static inline __m512
int8_transform(const Int8Affine &t, __m512i sum) {
  const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, t.corr));
  return _mm512_add_ps(_mm512_mul_ps(v, t.alpha), t.beta);
}

__attribute__((target("avx512f"))) static void pool_quantize_row_avx512(
    const PoolInt8 &a, int64_t n, int64_t oy, uint8_t *q) {
  const int64_t Cp = a.Cq * 4;
  const __m512 area = _mm512_set1_ps((float)(a.f * a.f));
  const __m512 inv = _mm512_set1_ps(a.inv_scale);
  const __m512i zp = _mm512_set1_epi32(a.zp);
  for (int64_t ox = 0; ox < a.OW; ++ox) {
    const float *p = a.x + ((n * a.H + a.f * oy) * a.W + a.f * ox) * a.C;
    uint8_t *d = q + ox * Cp;
    for (int64_t c = 0; c < Cp; c += 16) {
      const int64_t left = a.C - c;
      const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF
                          : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
      __m512 s = _mm512_maskz_loadu_ps(m, p + c);
      for (int64_t dy = 0; dy < a.f; ++dy)
        for (int64_t dx = dy ? 0 : 1; dx < a.f; ++dx)
          s = _mm512_add_ps(
              s, _mm512_maskz_loadu_ps(m, p + (dy * a.W + dx) * a.C + c));
      if (a.f > 1) s = _mm512_div_ps(s, area);
      const __m512i v = _mm512_maskz_mov_epi32(  // padding channels 0
          m, quantize_scaled_avx512(_mm512_mul_ps(s, inv), zp));
      const int64_t bytes = std::min<int64_t>(16, Cp - c);
      _mm512_mask_cvtepi32_storeu_epi8(
          d + c, (__mmask16)((1u << bytes) - 1), v);
    }
  }
}
#endif

static void pool_int8_row_scalar(const PoolInt8 &a, const uint8_t *q,
                                 float *dst) {
  for (int64_t ox = 0; ox < a.OW; ++ox)
    for (int64_t o = 0; o < a.O; ++o) {
      const int8_t *w = a.w + (o / 16) * a.Cq * 64 + (o % 16) * 4;
      int32_t acc = 0;
      for (int64_t k = 0; k < a.Cq * 4; ++k)
        acc += (int32_t)q[ox * a.Cq * 4 + k] * w[(k / 4) * 64 + k % 4];
      float y = (float)(acc - a.zp * a.wsum[o]) * a.alpha[o];
      dst[ox * a.O + o] = y + a.beta[o];
    }
}

#ifdef MMBNN_X86
// PX pixels x up to 4 blocks of 16 output channels.
template <int PX>
__attribute__((target("avx512f,avx512vnni"), always_inline)) static inline void
pool_int8_tile_avx512(const PoolInt8 &a, const uint8_t *q, int64_t ox,
                      int64_t b0, int64_t nb, float *dst) {
  __m512i acc[PX][4];
  for (int p = 0; p < PX; ++p)
    for (int b = 0; b < 4; ++b) acc[p][b] = _mm512_setzero_si512();
  const int64_t Cp = a.Cq * 4;
  for (int64_t k = 0; k < a.Cq; ++k) {
    __m512i w[4];
    for (int b = 0; b < 4; ++b)
      if (b < nb)
        w[b] = _mm512_loadu_si512(a.w + ((b0 + b) * a.Cq + k) * 64);
    for (int p = 0; p < PX; ++p) {
      int32_t quad;
      std::memcpy(&quad, q + (ox + p) * Cp + k * 4, 4);
      const __m512i x = _mm512_set1_epi32(quad);
      for (int b = 0; b < 4; ++b)
        if (b < nb) acc[p][b] = _mm512_dpbusd_epi32(acc[p][b], x, w[b]);
    }
  }
  for (int b = 0; b < 4; ++b) {
    if (b >= nb) break;
    const int64_t o0 = (b0 + b) * 16;
    const Int8Affine t = int8_affine(a.zp, a.wsum, a.alpha, a.beta, o0, a.O);
    for (int p = 0; p < PX; ++p)
      _mm512_mask_storeu_ps(dst + (ox + p) * a.O + o0, t.m,
                            int8_transform(t, acc[p][b]));
  }
}

__attribute__((target("avx512f,avx512vnni"))) static void pool_int8_row_avx512(
    const PoolInt8 &a, const uint8_t *q, float *dst) {
  const int64_t blocks = (a.O + 15) / 16;
  for (int64_t b0 = 0; b0 < blocks; b0 += 4) {
    const int64_t nb = std::min<int64_t>(4, blocks - b0);
    int64_t ox = 0;
    for (; ox + 4 <= a.OW; ox += 4)
      pool_int8_tile_avx512<4>(a, q, ox, b0, nb, dst);
    for (; ox < a.OW; ++ox) pool_int8_tile_avx512<1>(a, q, ox, b0, nb, dst);
  }
}
#endif

#ifdef MMBNN_AMX
// The conv on AMX where C is a multiple of 64: q holds the pooled,
// quantized input of every pixel ([16 * tiles][C], zeros past the last),
// a tile item is 16 pixels (from p0; the first `pixels` of them real) x nb
// <= 4 blocks of 16 channels from b0, its sums stored from the tiles into
// acc ([16][64]) and transformed as pool_int8_tile_avx512 does.
#define SHORTCUT_GROUP(g, at, bt)                                  \
  if (nb > g) {                                                   \
    _tile_loadd(bt, B + g * a.Cq * 64, 64);                       \
    _tile_dpbusd(g, at, bt);                                      \
  }

__attribute__((target("amx-tile,amx-int8,avx512f"))) static void
pool_int8_tile_amx(const PoolInt8 &a, const uint8_t *q, int64_t p0,
                   int64_t pixels, int64_t b0, int64_t nb, int32_t *acc,
                   float *out) {
  const int64_t C = a.Cq * 4;
  _tile_zero(0);
  if (nb > 1) _tile_zero(1);
  if (nb > 2) _tile_zero(2);
  if (nb > 3) _tile_zero(3);
  for (int64_t j = 0; j < C / 64; ++j) {
    const uint8_t *A = q + p0 * C + 64 * j;
    const int8_t *B = a.w + (b0 * a.Cq + 16 * j) * 64;
    if (j % 2 == 0) {
      _tile_loadd(4, A, C);
      SHORTCUT_GROUP(0, 4, 6)
      SHORTCUT_GROUP(1, 4, 7)
      SHORTCUT_GROUP(2, 4, 6)
      SHORTCUT_GROUP(3, 4, 7)
    } else {
      _tile_loadd(5, A, C);
      SHORTCUT_GROUP(0, 5, 6)
      SHORTCUT_GROUP(1, 5, 7)
      SHORTCUT_GROUP(2, 5, 6)
      SHORTCUT_GROUP(3, 5, 7)
    }
  }
  _tile_stored(0, acc, 256);
  if (nb > 1) _tile_stored(1, acc + 16, 256);
  if (nb > 2) _tile_stored(2, acc + 32, 256);
  if (nb > 3) _tile_stored(3, acc + 48, 256);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t o0 = (b0 + b) * 16;
    const Int8Affine t = int8_affine(a.zp, a.wsum, a.alpha, a.beta, o0, a.O);
    for (int64_t p = 0; p < pixels; ++p)
      _mm512_mask_storeu_ps(
          out + (p0 + p) * a.O + o0, t.m,
          int8_transform(t, _mm512_loadu_si512(acc + p * 64 + 16 * b)));
  }
}
#undef SHORTCUT_GROUP

// mmbnn_pool_int8_conv on AMX (C a multiple of 64): every row pooled and
// quantized first, then the tiles.
static void pool_int8_amx(const PoolInt8 &a, int64_t N, float *out,
                          int threads) {
  const int64_t C = a.Cq * 4, P = N * a.OH * a.OW, tiles = (P + 15) / 16;
  const int64_t blocks = (a.O + 15) / 16, groups = (blocks + 3) / 4;
  std::unique_ptr<uint8_t[]> q(new uint8_t[tiles * 16 * C]);
  std::memset(q.get() + P * C, 0, (tiles * 16 - P) * C);
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t row = 0; row < N * a.OH; ++row)
      pool_quantize_row_avx512(a, row / a.OH, row % a.OH,
                               q.get() + row * a.OW * C);
    alignas(64) int32_t acc[16 * 64];
    amx_tiles_on();
#pragma omp for schedule(static)
    for (int64_t item = 0; item < tiles * groups; ++item) {
      const int64_t t = item / groups, b0 = item % groups * 4;
      pool_int8_tile_amx(a, q.get(), 16 * t, std::min<int64_t>(16, P - 16 * t),
                         b0, std::min<int64_t>(4, blocks - b0), acc, out);
    }
    amx_tiles_off();
  }
}
#endif

// pool: f >= 1 (above; 1 for an int8 linear layer: H = W = 1, a row of x
// an image). Where AMX is usable and amx is 1, the AVX-512 path runs the
// conv on it (C a multiple of 64, and at least one tile of 16 output
// pixels: fewer, a classifier's FC on one image, run faster on VNNI); the
// sums, and so the outputs, are the same.
extern "C" int mmbnn_pool_int8_conv(const float *x, int64_t N, int64_t H,
                                    int64_t W, int64_t C, const int8_t *w,
                                    const int32_t *wsum, int64_t O,
                                    float inv_scale, int zp,
                                    const float *alpha, const float *beta,
                                    float *out, int pool, int amx, int isa,
                                    int threads) {
  if (!mmbnn_int8_supported(isa) || pool < 1) return -1;
  PoolInt8 a{x, pool, H, W, C, H / pool, W / pool, O, (C + 3) / 4, w, wsum,
             inv_scale, zp, alpha, beta};
#ifdef MMBNN_AMX
  if (isa == ISA_AVX512 && amx && C % 64 == 0 &&
      N * a.OH * a.OW >= 16 && amx_usable()) {
    pool_int8_amx(a, N, out, threads);
    return 0;
  }
#endif
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint8_t> q(a.OW * a.Cq * 4);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < N * a.OH; ++row) {
      const int64_t n = row / a.OH, oy = row % a.OH;
      float *dst = out + row * a.OW * O;
#ifdef MMBNN_X86
      if (isa == ISA_AVX512) {
        pool_quantize_row_avx512(a, n, oy, q.data());
        pool_int8_row_avx512(a, q.data(), dst);
        continue;
      }
#endif
      pool_quantize_row(a, n, oy, q.data());
      pool_int8_row_scalar(a, q.data(), dst);
    }
  }
  return 0;
}

#ifdef MMBNN_X86
// One output pixel of mmbnn_uint8_pool_dequantize (below) for C a multiple
// of 16: the window's pixels q + offsets[i] (count of them), their maximum,
// dequantized to dst and its sign bits to b, 16 channels a step.
__attribute__((target("avx512f"))) static void pool_dequantize_pixel_avx512(
    const uint8_t *const *taps, int count, int64_t C, int zp, float scale,
    float *dst, u64 *b) {
  const __m512i z = _mm512_set1_epi32(zp);
  const __m512 sc = _mm512_set1_ps(scale);
  u64 word = 0;
  for (int64_t c = 0; c < C; c += 16) {
    __m128i m = _mm_loadu_si128(reinterpret_cast<const __m128i *>(taps[0] + c));
    for (int i = 1; i < count; ++i)
      m = _mm_max_epu8(
          m, _mm_loadu_si128(reinterpret_cast<const __m128i *>(taps[i] + c)));
    const __m512i v = _mm512_cvtepu8_epi32(m);
    _mm512_storeu_ps(dst + c, _mm512_mul_ps(
                                  _mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), sc));
    word |= (u64)(uint16_t)_mm512_cmpge_epi32_mask(v, z) << (c % 64);
    if (c % 64 == 48 || c + 16 == C) {
      b[c / 64] = word;
      word = 0;
    }
  }
}
#endif

// m = max(m, src), element-wise (vectorized: the two do not overlap).
static inline void max_into(uint8_t *__restrict m,
                            const uint8_t *__restrict src, int64_t C) {
  for (int64_t c = 0; c < C; ++c) m[c] = m[c] > src[c] ? m[c] : src[c];
}

// An int8 layer's uint8 output [N, H, W, C] handed to the float layers and
// the binary ones after it, in one pass: max-pooled (k x k, stride s,
// padding p that no window's maximum takes; k = 1, s = 1, p = 0: none), then
// dequantized, out = (float)(q - zp) * scale as PyTorch's dequantize, and
// its sign bits (out >= 0, i.e. q >= zp) packed as mmbnn_pack packs them,
// [N, OH, OW, ceil(C / 64)] words. Max-pooling the uint8 values is exact:
// dequantizing keeps their order.
extern "C" int mmbnn_uint8_pool_dequantize(
    const uint8_t *q, int64_t N, int64_t H, int64_t W, int64_t C, int k,
    int s, int p, int zp, float scale, float *out, u64 *bits, int isa,
    int threads) {
  if (!mmbnn_int8_supported(isa) || k < 1 || s < 1 || p < 0 || 2 * p > k)
    return -1;
  const int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  const int64_t words = (C + 63) / 64;
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint8_t> m(C);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < N * OH; ++row) {
      const int64_t n = row / OH, oy = row % OH;
      const int64_t y0 = std::max<int64_t>(0, oy * s - p),
                    y1 = std::min<int64_t>(H, oy * s - p + k);
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t x0 = std::max<int64_t>(0, ox * s - p),
                      x1 = std::min<int64_t>(W, ox * s - p + k);
        const int64_t pix = row * OW + ox;
#ifdef MMBNN_X86
        if (isa == ISA_AVX512 && C % 16 == 0 && k <= 8) {
          const uint8_t *taps[64];  // k <= 8 on this path
          int count = 0;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x)
              taps[count++] = q + ((n * H + y) * W + x) * C;
          pool_dequantize_pixel_avx512(taps, count, C, zp, scale,
                                       out + pix * C, bits + pix * words);
          continue;
        }
#endif
        // The window's maximum: its first pixel, then the others.
        std::memcpy(m.data(), q + ((n * H + y0) * W + x0) * C, C);
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = y == y0 ? x0 + 1 : x0; x < x1; ++x)
            max_into(m.data(), q + ((n * H + y) * W + x) * C, C);
        float *dst = out + pix * C;
        u64 *b = bits + pix * words;
        for (int64_t w = 0; w < words; ++w) b[w] = 0;
        for (int64_t c = 0; c < C; ++c) {
          dst[c] = (float)((int32_t)m[c] - zp) * scale;
          if (m[c] >= zp) b[c / 64] |= (u64)1 << (c % 64);
        }
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The int8 runtime's stem in one pass (deploy/int8.py, docs/deploy.md): a
// conv (groups 1, no dilation, stride S, zero padding P) of a channels-last
// float input [N, H, W, C] quantized to uint8 as quantize_per_tensor does
// (pool_quantize_row's rounding), with int8 weights:
//   y[o] = (float)(sum q w - zp * wsum[o]) * alpha[o] + beta[o]
// (the padding holds the zero point: it adds nothing), not requantized, then
// a max pool of y (k x k, stride s <= k, padding p with 2 p <= k; k = 1: none),
// written as float [N, PH, PW, O] and its sign bits (y >= 0) as mmbnn_pack
// packs them. The pool takes the maximum of the sums, and the transform
// only the pooled ones: it is non-decreasing in the sum (alpha >= 0, each
// float step rounds monotonically), so this is the maximum of the
// transformed values, with a quarter of the transforms and no float conv
// output in memory.
//
// Layout (mmbnn_stem_layout): the input is quantized into a plane Q of Cp
// bytes a pixel (the C channels, then zeros; Cp = C rounded up to 4, 8, 16,
// 32 or 64) with P pixels of zero point around it; a step of the sum takes R
// kernel rows (R = 2 where Cp = 4 and 2 rows of KW * 4 bytes fit in 64,
// else 1), KS = ceil(KH / R) steps. With R = 2 the AVX-512 path reads a
// plane Q2 whose pixel (y, x) is Q's pixels (y, x) and (y + 1, x), 2 Cp
// bytes: a window's step is then KW * 2 Cp contiguous bytes. Weights
// [KS][O / 16][16][16][4]: step s, group g, row r, channel n, byte j holds
// w[16 g + n] at input byte k = 4 r + j of the step: kx = k / (R Cp),
// ky = R s + k / Cp % R, c = k % Cp (zero for c >= C, ky >= KH, kx >= KW)
// -- one AMX B tile a step and group; the scalar path reads the same. O a
// multiple of 16, at most 64. On AVX-512 the conv runs on AMX: a tile of 16
// pixels' step inputs is loaded from the plane as it is (rows S R Cp bytes
// apart) and multiplied by 64 inputs x 16 channels; the integer sums are
// exact and the transform rounds as the scalar path's, so the paths agree
// bit for bit.

// Cp and R (above) of a KH x KW kernel over C channels, into layout[0..1].
extern "C" void mmbnn_stem_layout(int64_t KH, int64_t KW, int64_t C,
                                  int64_t *layout) {
  int64_t cp = 4;
  while (cp < C) cp *= 2;
  layout[0] = cp;
  layout[1] = KH > 1 && cp == 4 && 2 * KW * cp <= 64 ? 2 : 1;
}

struct StemArgs {
  int64_t N, H, W, C, Cp, R, KS, KH, KW, S, P, OH, OW, O;
  const int8_t *w;
  const int32_t *wsum;
  int zp;
  const float *alpha, *beta;
  int64_t pk, ps, pp, PH, PW;
  float *out;
  u64 *bits;
};

// The sums of conv row oy from the quantized, padded plane, [OW][O]
// (scalar).
static void stem_row_scalar(const StemArgs &a, const uint8_t *plane,
                            int64_t oy, int32_t *row) {
  const int64_t Wp = a.W + 2 * a.P, G = a.O / 16;
  for (int64_t ox = 0; ox < a.OW; ++ox)
    for (int64_t o = 0; o < a.O; ++o) {
      int32_t acc = 0;
      for (int64_t ky = 0; ky < a.KH; ++ky) {
        const uint8_t *src = plane + ((oy * a.S + ky) * Wp + ox * a.S) * a.Cp;
        const int8_t *w = a.w + (((ky / a.R) * G + o / 16) * 16) * 64 +
                          (o % 16) * 4;
        for (int64_t kx = 0; kx < a.KW; ++kx)
          for (int64_t c = 0; c < a.Cp; ++c) {
            const int64_t k = (kx * a.R + ky % a.R) * a.Cp + c;
            acc += (int32_t)src[kx * a.Cp + c] * w[(k / 4) * 64 + k % 4];
          }
      }
      row[ox * a.O + o] = acc;
    }
}

// A conv row's sums pooled along the row into h ([PW][O]).
static void stem_hpool(const StemArgs &a, const int32_t *row, int32_t *h) {
  for (int64_t px = 0; px < a.PW; ++px) {
    const int64_t c0 = std::max<int64_t>(0, px * a.ps - a.pp);
    const int64_t c1 = std::min<int64_t>(a.OW, px * a.ps - a.pp + a.pk);
    for (int64_t o = 0; o < a.O; ++o) {
      int32_t m = row[c0 * a.O + o];
      for (int64_t c = c0 + 1; c < c1; ++c) m = std::max(m, row[c * a.O + o]);
      h[px * a.O + o] = m;
    }
  }
}

// Pooled row py of image n: the maximum of its window's rows of h (row r in
// slot r % pk of hring), transformed, to out and bits.
static void stem_vpool(const StemArgs &a, const int32_t *hring, int64_t n,
                       int64_t py) {
  const int64_t r0 = std::max<int64_t>(0, py * a.ps - a.pp);
  const int64_t r1 = std::min<int64_t>(a.OH, py * a.ps - a.pp + a.pk);
  const int64_t hsz = a.PW * a.O;
  for (int64_t px = 0; px < a.PW; ++px) {
    const int64_t pix = (n * a.PH + py) * a.PW + px;
    float *dst = a.out + pix * a.O;
    u64 word = 0;
    for (int64_t o = 0; o < a.O; ++o) {
      int32_t m = hring[(r0 % a.pk) * hsz + px * a.O + o];
      for (int64_t r = r0 + 1; r < r1; ++r)
        m = std::max(m, hring[(r % a.pk) * hsz + px * a.O + o]);
      const float y = (float)(m - a.zp * a.wsum[o]) * a.alpha[o];
      dst[o] = y + a.beta[o];
      word |= (u64)(dst[o] >= 0.0f) << o;
    }
    a.bits[pix] = word;
  }
}

#ifdef MMBNN_AMX
// One row of the quantized plane: W pixels of C floats to Cp bytes each
// (zeros after the C), via tmp (W * C + 64 bytes): 64 values a step
// quantized to int32 (quantize_unclamped_avx512: the saturating packs to
// int16 and then to uint8 give the clamp to [0, 255]) and put back in
// order (the packs interleave the four vectors a 128-bit lane at a time).
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static void
stem_quantize_row(const float *src, int64_t W, int64_t C, int64_t Cp,
                  float inv_scale, int zp, uint8_t *tmp, uint8_t *d) {
  const int64_t n = W * C;
  const __m512 inv = _mm512_set1_ps(inv_scale);
  const __m512i z = _mm512_set1_epi32(zp);
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                          14, 3, 7, 11, 15);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512i v[4];
    for (int k = 0; k < 4; ++k)
      v[k] = quantize_unclamped_avx512(
          _mm512_mul_ps(_mm512_loadu_ps(src + i + 16 * k), inv), z);
    const __m512i bytes = _mm512_packus_epi16(_mm512_packs_epi32(v[0], v[1]),
                                              _mm512_packs_epi32(v[2], v[3]));
    _mm512_storeu_si512(tmp + i, _mm512_permutexvar_epi32(order, bytes));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF
                                    : (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_cvtepi32_storeu_epi8(
        tmp + i, m, quantize_scaled_avx512(
                        _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), inv),
                        z));
  }
  // Spread: 64 / Cp pixels a 64-byte store, their C bytes each first (Cp a
  // power of two).
  __mmask64 keep = 0;
  for (int64_t b = 0; b < 64; ++b)
    if ((b & (Cp - 1)) < C) keep |= (__mmask64)1 << b;
  const int64_t per = 64 / Cp;
  for (int64_t x = 0; x < W; x += per) {
    const int64_t left = std::min<int64_t>(per, W - x);
    const __mmask64 out = left == per ? ~(__mmask64)0
                                      : (((__mmask64)1 << (left * Cp)) - 1);
    _mm512_mask_storeu_epi8(
        d + x * Cp, out,
        _mm512_maskz_expand_epi8(keep, _mm512_loadu_si512(tmp + x * C)));
  }
}

// stem_hpool 16 channels a step, for the pooled columns from px on whose
// windows end within the row's first cols columns; returns the next one.
// (Called after each AMX tile of the row: the sums are read while in L1.)
__attribute__((target("avx512f"))) static int64_t stem_hpool_avx512(
    const StemArgs &a, const int32_t *row, int32_t *h, int64_t px,
    int64_t cols) {
  for (; px < a.PW; ++px) {
    const int64_t c0 = std::max<int64_t>(0, px * a.ps - a.pp);
    const int64_t c1 = std::min<int64_t>(a.OW, px * a.ps - a.pp + a.pk);
    if (c1 > cols) break;
    for (int64_t o = 0; o < a.O; o += 16) {
      __m512i m = _mm512_loadu_si512(row + c0 * a.O + o);
      for (int64_t c = c0 + 1; c < c1; ++c)
        m = _mm512_max_epi32(m, _mm512_loadu_si512(row + c * a.O + o));
      _mm512_storeu_si512(h + px * a.O + o, m);
    }
  }
  return px;
}

#define STEM_GROUP(g, at, bt)                                              \
  if (G > g) {                                                             \
    _tile_loadd(bt, a.w + (ky * G + g) * 1024, 64);                        \
    _tile_dpbusd(g, at, bt);                                               \
  }

// The sums of conv row oy, [OW][O] int32, 16 pixels a tile, each step's A
// tile loaded from the plane as it is, the sums stored from the tiles into
// row (which has room for a last tile past OW: a row's last tile may read
// past its pixels; those sums are not used), and pooled along the row into
// h (stem_hpool_avx512) tile by tile.
__attribute__((target("amx-tile,amx-int8"))) static void stem_row_amx(
    const StemArgs &a, const uint8_t *plane, int64_t oy, int32_t *row,
    int32_t *h) {
  int64_t next = 0;  // the next pooled column
  const int64_t G = a.O / 16, Wp = a.W + 2 * a.P, tiles = (a.OW + 15) / 16;
  const int64_t px = a.R * a.Cp;  // bytes a pixel of the plane
  const int64_t lda = a.S * px;   // bytes between pixels' windows
  for (int64_t t = 0; t < tiles; ++t) {
    const uint8_t *A = plane + (oy * a.S * Wp + 16 * t * a.S) * px;
    int32_t *acc = row + 16 * t * a.O;
    _tile_zero(0);
    if (G > 1) _tile_zero(1);
    if (G > 2) _tile_zero(2);
    if (G > 3) _tile_zero(3);
    for (int64_t ky = 0; ky < a.KS; ++ky) {  // a step: R kernel rows
      if (ky % 2 == 0) {
        _tile_loadd(4, A + a.R * ky * Wp * px, lda);
        STEM_GROUP(0, 4, 6)
        STEM_GROUP(1, 4, 7)
        STEM_GROUP(2, 4, 6)
        STEM_GROUP(3, 4, 7)
      } else {
        _tile_loadd(5, A + a.R * ky * Wp * px, lda);
        STEM_GROUP(0, 5, 6)
        STEM_GROUP(1, 5, 7)
        STEM_GROUP(2, 5, 6)
        STEM_GROUP(3, 5, 7)
      }
    }
    _tile_stored(0, acc, a.O * 4);
    if (G > 1) _tile_stored(1, acc + 16, a.O * 4);
    if (G > 2) _tile_stored(2, acc + 32, a.O * 4);
    if (G > 3) _tile_stored(3, acc + 48, a.O * 4);
    next = stem_hpool_avx512(a, row, h, next, std::min(a.OW, 16 * (t + 1)));
  }
}
#undef STEM_GROUP

// Row y of Q2 (R = 2, Cp = 4): Q's rows y and y + 1 (q0, q1) interleaved a
// pixel at a time, 8 bytes a pixel, Wp pixels.
__attribute__((target("avx512f"))) static void stem_pair_rows(
    const uint8_t *q0, const uint8_t *q1, int64_t Wp, uint8_t *d) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5,
                                       21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28,
                                       13, 29, 14, 30, 15, 31);
  for (int64_t x = 0; x < Wp; x += 16) {
    const int64_t n = std::min<int64_t>(16, Wp - x);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    const __m512i a = _mm512_maskz_loadu_epi32(m, q0 + 4 * x);
    const __m512i b = _mm512_maskz_loadu_epi32(m, q1 + 4 * x);
    const __mmask16 m0 = (__mmask16)((1u << (2 * std::min<int64_t>(8, n))) - 1);
    _mm512_mask_storeu_epi32(d + 8 * x, m0, _mm512_permutex2var_epi32(a, lo, b));
    if (n > 8)
      _mm512_mask_storeu_epi32(d + 8 * x + 64,
                               (__mmask16)((1u << (2 * (n - 8))) - 1),
                               _mm512_permutex2var_epi32(a, hi, b));
  }
}

// stem_hpool and stem_vpool 16 channels a step.

__attribute__((target("avx512f"))) static void stem_vpool_avx512(
    const StemArgs &a, const int32_t *hring, int64_t n, int64_t py) {
  const int64_t r0 = std::max<int64_t>(0, py * a.ps - a.pp);
  const int64_t r1 = std::min<int64_t>(a.OH, py * a.ps - a.pp + a.pk);
  const int64_t hsz = a.PW * a.O, G = a.O / 16;
  // The window's rows of h: slots first, first + 1, ... of the ring,
  // wrapping at pk (no division in the loops below).
  const int64_t first = r0 % a.pk, count = r1 - r0;
  const __m512 zero = _mm512_setzero_ps();
  Int8Affine affine[4];  // O <= 64
  for (int64_t g = 0; g < G; ++g)
    affine[g] = int8_affine(a.zp, a.wsum, a.alpha, a.beta, 16 * g, a.O);
  for (int64_t px = 0; px < a.PW; ++px) {
    const int64_t pix = (n * a.PH + py) * a.PW + px;
    float *dst = a.out + pix * a.O;
    const int32_t *h0 = hring + first * hsz + px * a.O;
    u64 word = 0;
    for (int64_t g = 0; g < G; ++g) {
      __m512i m = _mm512_loadu_si512(h0 + 16 * g);
      for (int64_t i = 1, slot = first + 1; i < count; ++i, ++slot) {
        if (slot == a.pk) slot = 0;
        m = _mm512_max_epi32(m, _mm512_loadu_si512(
                                    hring + slot * hsz + px * a.O + 16 * g));
      }
      const __m512 y = int8_transform(affine[g], m);
      _mm512_storeu_ps(dst + 16 * g, y);
      word |= (u64)(uint16_t)_mm512_cmp_ps_mask(y, zero, _CMP_GE_OQ)
              << (16 * g);
    }
    a.bits[pix] = word;
  }
}
#endif

extern "C" int mmbnn_int8_stem_supported(int isa) {
  if (isa == ISA_SCALAR) return 1;
#ifdef MMBNN_AMX
  if (isa == ISA_AVX512) return amx_usable();
#endif
  return 0;
}

extern "C" int mmbnn_int8_stem(
    const float *x, int64_t N, int64_t H, int64_t W, int64_t C, int64_t KH,
    int64_t KW, int64_t S, int64_t P, const int8_t *w, const int32_t *wsum,
    int64_t O, float inv_scale, int zp, const float *alpha, const float *beta,
    int64_t pk, int64_t ps, int64_t pp, float *out, u64 *bits, int isa,
    int threads) {
  int64_t layout[2];
  mmbnn_stem_layout(KH, KW, C, layout);
  const int64_t Cp = layout[0], R = layout[1], KS = (KH + R - 1) / R;
  if (!mmbnn_int8_stem_supported(isa) || O % 16 || O > 64 || O < 16 ||
      C < 1 || KW * Cp > 64 || KH < 1 || S < 1 || P < 0 || pk < 1 ||
      ps < 1 || ps > pk || pp < 0 || 2 * pp > pk || H + 2 * P < KH ||
      W + 2 * P < KW)
    return -1;
  const int64_t OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1;
  if (OH + 2 * pp < pk || OW + 2 * pp < pk) return -1;
  for (int64_t o = 0; o < O; ++o)
    if (!(alpha[o] >= 0.0f)) return -1;  // pooling the sums needs it
  const StemArgs a{N, H, W, C, Cp, R, KS, KH, KW, S, P, OH, OW, O, w, wsum, zp,
                   alpha, beta, pk, ps, pp, (OH + 2 * pp - pk) / ps + 1,
                   (OW + 2 * pp - pk) / ps + 1, out, bits};
  const int64_t Hp = H + 2 * P, Wp = W + 2 * P;
  // Each image quantized into Q with zero point around it and a row of it
  // after it (Q2's last row reads it), then Q2 where the AVX-512 path pairs
  // rows; after the last image 16 windows' room, zeros: a row's last AMX
  // tile may read past the row. Not zeroed first: every byte is written
  // once below.
#ifdef MMBNN_AMX
  const bool pairs = isa == ISA_AVX512 && R == 2;
#else
  const bool pairs = false;
#endif
  const int64_t image = (Hp + 1) * Wp * Cp;
  const int64_t image2 = pairs ? Hp * Wp * 2 * Cp : 0;
  const int64_t slack = 16 * S * R * Cp + 64;
  std::unique_ptr<uint8_t[]> planes(new uint8_t[N * image + slack]);
  std::unique_ptr<uint8_t[]> planes2(
      new uint8_t[pairs ? N * image2 + slack : 1]);
  std::memset(planes.get() + N * image, 0, slack);
  if (pairs) std::memset(planes2.get() + N * image2, 0, slack);
  uint8_t border[64];  // a pixel of the padding: zero point, then zeros
  for (int64_t c = 0; c < Cp; ++c) border[c] = c < C ? (uint8_t)zp : 0;
  // Pooled rows in ranges, one a thread and image: a range computes the conv
  // rows its windows take (the boundary's shared one twice).
  const int64_t ranges = std::min<int64_t>(a.PH, std::max(1, threads));
#pragma omp parallel num_threads(threads)
  {
#ifdef MMBNN_AMX
    const bool amx = isa == ISA_AVX512;
    std::vector<uint8_t> tmp(amx ? W * C + 64 : 0);
#endif
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * (Hp + 1); ++r) {
      const int64_t n = r / (Hp + 1), y = r % (Hp + 1) - P;
      uint8_t *d = planes.get() + n * image + (r % (Hp + 1)) * Wp * Cp;
      if (y < 0 || y >= H) {  // a padding row
        for (int64_t i = 0; i < Wp; ++i) std::memcpy(d + i * Cp, border, Cp);
        continue;
      }
      for (int64_t i = 0; i < P; ++i) {  // its padding columns
        std::memcpy(d + i * Cp, border, Cp);
        std::memcpy(d + (P + W + i) * Cp, border, Cp);
      }
      const float *src = x + (n * H + y) * W * C;
#ifdef MMBNN_AMX
      if (amx) {
        stem_quantize_row(src, W, C, Cp, inv_scale, zp, tmp.data(),
                          d + P * Cp);
        continue;
      }
#endif
      for (int64_t i = 0; i < W; ++i)
        for (int64_t c = 0; c < Cp; ++c)
          d[(P + i) * Cp + c] =
              c < C ? quantize_u8(src[i * C + c], inv_scale, zp) : 0;
    }
#ifdef MMBNN_AMX
    if (pairs) {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < N * Hp; ++r) {
        const uint8_t *q = planes.get() + (r / Hp) * image + (r % Hp) * Wp * Cp;
        stem_pair_rows(q, q + Wp * Cp, Wp,
                       planes2.get() + (r / Hp) * image2 +
                           (r % Hp) * Wp * 2 * Cp);
      }
    }
#endif
    // A conv row's sums (room for a last AMX tile past OW), the pooled
    // along rows in a ring of pk.
    std::unique_ptr<int32_t[]> row(new int32_t[(OW + 16) * O]);
    std::unique_ptr<int32_t[]> hring(new int32_t[pk * a.PW * O]);
#ifdef MMBNN_AMX
    if (amx) amx_tiles_on();
#endif
#pragma omp for schedule(static)
    for (int64_t item = 0; item < N * ranges; ++item) {
      const int64_t n = item / ranges, i = item % ranges;
      const int64_t py0 = i * a.PH / ranges, py1 = (i + 1) * a.PH / ranges;
      const uint8_t *plane = planes.get() + n * image;
      int64_t next = 0;  // the first conv row not yet in the ring
      for (int64_t py = py0; py < py1; ++py) {
        const int64_t lo = std::max<int64_t>(0, py * ps - pp);
        const int64_t hi = std::min<int64_t>(OH, py * ps - pp + pk);
        for (int64_t r = std::max(next, lo); r < hi; ++r) {
          int32_t *h = hring.get() + (r % pk) * a.PW * O;
#ifdef MMBNN_AMX
          if (amx) {
            stem_row_amx(a, pairs ? planes2.get() + n * image2 : plane, r,
                         row.get(), h);
            continue;
          }
#endif
          stem_row_scalar(a, plane, r, row.get());
          stem_hpool(a, row.get(), h);
        }
        next = std::max(next, hi);
#ifdef MMBNN_AMX
        if (amx) {
          stem_vpool_avx512(a, hring.get(), n, py);
          continue;
        }
#endif
        stem_vpool(a, hring.get(), n, py);
      }
    }
#ifdef MMBNN_AMX
    if (amx) amx_tiles_off();
#endif
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Training: the sign forward and the tanh-estimator backward (IR-Net's EDE,
// DIR-Net's DTE) of mmbnn.ops, one pass each over contiguous float32 data.

// sign(x) with sign(0) = +1, as +-1.0f.
extern "C" void mmbnn_sign(const float *x, float *out, int64_t n,
                           int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] >= 0.0f ? 1.0f : -1.0f;
}

// k t (1 - tanh(t x)^2) = k t 4 v / (1 + v)^2 with v = exp(-2 |t x|): no
// overflow, and no cancellation below |t x| = 13 ln 2. Beyond it, where
// float32's tanh(t x) rounds to 1, the factor is 0, as the reference formula
// (and PyTorch's path) gives: the exact tail there (below 6e-8 k t) only
// made subnormal gradients downstream, and subnormals slow every x86 float
// op that meets them by 10-100x (a binary Faster R-CNN's FPN: a fifth of
// the lateral convs' output gradients, and its step 2.7 s instead of 1.9).
static const float kTanhIsOne = 9.010913347279289f;  // 13 ln 2

static inline float tanh_grad_scalar(float x, float kt, float t) {
  const float u = std::fabs(t * x);
  if (u > kTanhIsOne) return 0.0f;  // (a NaN goes on: NaN out)
  const float v = std::exp(-2.0f * u);
  return kt * (4.0f * v / ((1.0f + v) * (1.0f + v)));
}

#ifdef MMBNN_X86
// exp(x) for x <= 0 (Cephes' single-precision polynomial, about 1 ulp).
__attribute__((target("avx2,fma"))) static inline __m256 exp_nonpositive(
    __m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  __m256 fx = _mm256_floor_ps(_mm256_add_ps(
      _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
      _mm256_set1_ps(0.5f)));
  x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(0.693359375f)));
  x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(-2.12194440e-4f)));
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) static void tanh_grad_avx2(
    const float *x, const float *g, float *out, int64_t n, float kt,
    float t) {
  const __m256 vt = _mm256_set1_ps(t), vkt = _mm256_set1_ps(kt);
  const __m256 m2 = _mm256_set1_ps(-2.0f), one = _mm256_set1_ps(1.0f),
               four = _mm256_set1_ps(4.0f);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 u = _mm256_and_ps(_mm256_mul_ps(vt, _mm256_loadu_ps(x + i)),
                                   abs_mask);
    // Not beyond 13 ln 2 (unordered: a NaN x is treated as before).
    const __m256 inside = _mm256_cmp_ps(u, _mm256_set1_ps(kTanhIsOne),
                                        _CMP_NGT_UQ);
    const __m256 v = exp_nonpositive(_mm256_mul_ps(m2, u));
    const __m256 d = _mm256_add_ps(one, v);
    const __m256 s = _mm256_div_ps(_mm256_mul_ps(four, v), _mm256_mul_ps(d, d));
    // The factor zeroed, then times the gradient: 0 * NaN is NaN, as in
    // PyTorch's path.
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(g + i),
                                            _mm256_and_ps(inside, _mm256_mul_ps(
                                                vkt, s))));
  }
  for (; i < n; ++i) out[i] = g[i] * tanh_grad_scalar(x[i], kt, t);
}
#endif  // MMBNN_X86

// grad_in = grad * k t (1 - tanh(t x)^2), scalar k and t.
extern "C" void mmbnn_tanh_sign_grad(const float *x, const float *grad,
                                     float *out, int64_t n, float k, float t,
                                     int isa, int threads) {
  const int64_t chunk = 1 << 14, chunks = (n + chunk - 1) / chunk;
#ifdef MMBNN_X86
  const bool vec = isa != ISA_SCALAR && mmbnn_isa_supported(ISA_AVX2) &&
                   __builtin_cpu_supports("fma");
#else
  const bool vec = false;  // the scalar loop (NEON: vectorized by -O3)
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t a = c * chunk, len = std::min(chunk, n - a);
    if (vec) {
#ifdef MMBNN_X86
      tanh_grad_avx2(x + a, grad + a, out + a, len, k * t, t);
#endif
    } else {
      for (int64_t i = a; i < a + len; ++i)
        out[i] = grad[i] * tanh_grad_scalar(x[i], k * t, t);
    }
  }
}
