// XNOR-popcount binary convolution for mmbnn's CPU runtime (docs/deploy.md).
//
// Bit layout: a binary value +1 is bit 1, -1 is bit 0. Activations are packed
// per pixel ([N, H, W, G * Cgw] 64-bit words, Cgw = ceil(Cg / 64), unused tail
// bits 0); weights per output channel ([G][Og/8 blocks][tap][Cgw][8 channels]).
// For +-1 vectors a, w of length n, dot(a, w) = n - 2 popcount(a XOR w). A
// padded tap contributes nothing (a zero is neither +1 nor -1): its patch words
// are 0, and the popcount of the weight words it met is subtracted again.
//
// One source for every instruction set: the AVX-512 and AVX2 kernels carry
// GCC target attributes, so the library is built without -march=native and
// picks a kernel at run time (mmbnn_isa_supported). Built with
// -ffp-contract=off: the epilogue rounds alpha * dot, + beta, + residual
// separately, as PyTorch's elementwise ops do, on every path.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

typedef uint64_t u64;
enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static const int BLOCK = 8;  // output channels per weight block

extern "C" int mmbnn_isa_supported(int isa) {
  __builtin_cpu_init();
  switch (isa) {
    case ISA_SCALAR:
      return 1;
    case ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case ISA_AVX512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vpopcntdq");
  }
  return 0;
}

extern "C" int mmbnn_abi_version() { return 1; }

// acc[p * 8 + j] = sum_k popcount(patch_p[k] ^ w[k * 8 + j]) for P pixels.
typedef void (*Kernel)(const u64 *w, const u64 *patch, int P, int K,
                       int64_t ldp, int32_t *acc);

static void kernel_scalar(const u64 *w, const u64 *patch, int P, int K,
                          int64_t ldp, int32_t *acc) {
  for (int p = 0; p < P; ++p) {
    const u64 *a = patch + p * ldp;
    int32_t s[BLOCK] = {0};
    for (int k = 0; k < K; ++k) {
      const u64 x = a[k];
      const u64 *wk = w + BLOCK * k;
      for (int j = 0; j < BLOCK; ++j) s[j] += __builtin_popcountll(x ^ wk[j]);
    }
    std::memcpy(acc + p * BLOCK, s, sizeof(s));
  }
}

__attribute__((target("avx2,popcnt"))) static inline __m256i popcount_bytes(
    __m256i v, __m256i lut, __m256i low) {
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                         _mm256_shuffle_epi8(lut, hi));
}

__attribute__((target("avx2,popcnt"))) static inline void store_u64x4(
    __m256i v, int32_t *dst) {
  alignas(32) u64 t[4];
  _mm256_store_si256(reinterpret_cast<__m256i *>(t), v);
  for (int j = 0; j < 4; ++j) dst[j] = static_cast<int32_t>(t[j]);
}

// Two pixels x 8 channels per pass; byte counters summed (vpsadbw) every 31
// words, before a byte can overflow (31 * 8 = 248).
__attribute__((target("avx2,popcnt"))) static void kernel_avx2(
    const u64 *w, const u64 *patch, int P, int K, int64_t ldp, int32_t *acc) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                                       3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  int p = 0;
  for (; p + 2 <= P; p += 2) {
    const u64 *a0 = patch + p * ldp, *a1 = a0 + ldp;
    __m256i t00 = zero, t01 = zero, t10 = zero, t11 = zero;
    for (int k0 = 0; k0 < K; k0 += 31) {
      const int k1 = std::min(K, k0 + 31);
      __m256i b00 = zero, b01 = zero, b10 = zero, b11 = zero;
      for (int k = k0; k < k1; ++k) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + BLOCK * k));
        const __m256i w1 =
            _mm256_loadu_si256((const __m256i *)(w + BLOCK * k + 4));
        const __m256i x0 = _mm256_set1_epi64x((long long)a0[k]);
        const __m256i x1 = _mm256_set1_epi64x((long long)a1[k]);
        b00 = _mm256_add_epi8(b00, popcount_bytes(_mm256_xor_si256(w0, x0), lut, low));
        b01 = _mm256_add_epi8(b01, popcount_bytes(_mm256_xor_si256(w1, x0), lut, low));
        b10 = _mm256_add_epi8(b10, popcount_bytes(_mm256_xor_si256(w0, x1), lut, low));
        b11 = _mm256_add_epi8(b11, popcount_bytes(_mm256_xor_si256(w1, x1), lut, low));
      }
      t00 = _mm256_add_epi64(t00, _mm256_sad_epu8(b00, zero));
      t01 = _mm256_add_epi64(t01, _mm256_sad_epu8(b01, zero));
      t10 = _mm256_add_epi64(t10, _mm256_sad_epu8(b10, zero));
      t11 = _mm256_add_epi64(t11, _mm256_sad_epu8(b11, zero));
    }
    store_u64x4(t00, acc + p * BLOCK);
    store_u64x4(t01, acc + p * BLOCK + 4);
    store_u64x4(t10, acc + (p + 1) * BLOCK);
    store_u64x4(t11, acc + (p + 1) * BLOCK + 4);
  }
  for (; p < P; ++p) {
    const u64 *a0 = patch + p * ldp;
    __m256i t0 = zero, t1 = zero;
    for (int k0 = 0; k0 < K; k0 += 31) {
      const int k1 = std::min(K, k0 + 31);
      __m256i b0 = zero, b1 = zero;
      for (int k = k0; k < k1; ++k) {
        const __m256i x0 = _mm256_set1_epi64x((long long)a0[k]);
        b0 = _mm256_add_epi8(b0, popcount_bytes(_mm256_xor_si256(
            _mm256_loadu_si256((const __m256i *)(w + BLOCK * k)), x0), lut, low));
        b1 = _mm256_add_epi8(b1, popcount_bytes(_mm256_xor_si256(
            _mm256_loadu_si256((const __m256i *)(w + BLOCK * k + 4)), x0), lut, low));
      }
      t0 = _mm256_add_epi64(t0, _mm256_sad_epu8(b0, zero));
      t1 = _mm256_add_epi64(t1, _mm256_sad_epu8(b1, zero));
    }
    store_u64x4(t0, acc + p * BLOCK);
    store_u64x4(t1, acc + p * BLOCK + 4);
  }
}

// Four pixels x 8 channels per pass, one VPOPCNTQ per pixel and word.
__attribute__((target("avx512f,avx512vpopcntdq"))) static void kernel_avx512(
    const u64 *w, const u64 *patch, int P, int K, int64_t ldp, int32_t *acc) {
  int p = 0;
  for (; p + 4 <= P; p += 4) {
    const u64 *a0 = patch + p * ldp, *a1 = a0 + ldp, *a2 = a1 + ldp,
              *a3 = a2 + ldp;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (int k = 0; k < K; ++k) {
      const __m512i wk = _mm512_loadu_si512(w + BLOCK * k);
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    wk, _mm512_set1_epi64((long long)a0[k]))));
      s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    wk, _mm512_set1_epi64((long long)a1[k]))));
      s2 = _mm512_add_epi64(s2, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    wk, _mm512_set1_epi64((long long)a2[k]))));
      s3 = _mm512_add_epi64(s3, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    wk, _mm512_set1_epi64((long long)a3[k]))));
    }
    _mm256_storeu_si256((__m256i *)(acc + p * BLOCK), _mm512_cvtepi64_epi32(s0));
    _mm256_storeu_si256((__m256i *)(acc + (p + 1) * BLOCK), _mm512_cvtepi64_epi32(s1));
    _mm256_storeu_si256((__m256i *)(acc + (p + 2) * BLOCK), _mm512_cvtepi64_epi32(s2));
    _mm256_storeu_si256((__m256i *)(acc + (p + 3) * BLOCK), _mm512_cvtepi64_epi32(s3));
  }
  for (; p < P; ++p) {
    const u64 *a0 = patch + p * ldp;
    __m512i s0 = _mm512_setzero_si512();
    for (int k = 0; k < K; ++k)
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                                    _mm512_loadu_si512(w + BLOCK * k),
                                    _mm512_set1_epi64((long long)a0[k]))));
    _mm256_storeu_si256((__m256i *)(acc + p * BLOCK), _mm512_cvtepi64_epi32(s0));
  }
}

static Kernel pick(int isa) {
  if (isa == ISA_AVX512) return kernel_avx512;
  if (isa == ISA_AVX2) return kernel_avx2;
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

typedef void (*Packer)(const float *, int64_t, u64 *);
static Packer pick_packer(int isa) {
  return isa == ISA_SCALAR ? pack_scalar : pack_avx2;
}

// Sign bits of a channels-last float tensor [N, C, H, W] (pixel stride C,
// channel stride 1) into [N, H, W, G * Cgw] words, each group's channels
// starting a new word.
extern "C" int mmbnn_pack(const float *x, int64_t P, int64_t C, int64_t G,
                          u64 *out, int isa, int threads) {
  if (!mmbnn_isa_supported(isa)) return -1;
  const Packer pack = pick_packer(isa);
  const int64_t Cg = C / G, Cgw = (Cg + 63) / 64;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t p = 0; p < P; ++p)
    for (int64_t g = 0; g < G; ++g)
      pack(x + p * C + g * Cg, Cg, out + (p * G + g) * Cgw);
  return 0;
}

// Binary convolution of packed activations with packed weights, and the
// layer's output transform: y = alpha[o] * dot + beta[o] (+ residual), clipped
// to [-1, 1] if clip (Hardtanh), written as float to out ([N, OH, OW, O],
// channels-last) and, if out_bits, as the sign bits the next binary layer
// (groups 1) reads. Returns 0, or -1 for an unsupported instruction set.
extern "C" int mmbnn_conv(
    const u64 *in, int64_t N, int64_t H, int64_t W, const u64 *wblk,
    const int32_t *wpop, int64_t G, int64_t Cg, int64_t Og, int64_t KH,
    int64_t KW, int64_t sy, int64_t sx, int64_t py, int64_t px, int64_t dy,
    int64_t dx, const float *alpha, const float *beta, const float *res,
    int64_t rn, int64_t rc, int64_t rh, int64_t rw, int clip, float *out,
    int64_t OH, int64_t OW, u64 *out_bits, int isa, int threads) {
  if (!mmbnn_isa_supported(isa)) return -1;
  const Kernel kernel = pick(isa);
  const Packer pack = pick_packer(isa);
  const int64_t Cgw = (Cg + 63) / 64, in_words = G * Cgw, T = KH * KW;
  const int64_t K = T * Cgw, blocks = (Og + BLOCK - 1) / BLOCK, O = G * Og;
  const int64_t out_words = (O + 63) / 64;
#pragma omp parallel num_threads(threads)
  {
    std::vector<u64> patch(OW * K);
    std::vector<unsigned char> valid(OW * T);
    std::vector<int32_t> nvalid(OW), acc(OW * BLOCK);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < N * OH; ++row) {
      const int64_t n = row / OH, oy = row % OH;
      float *orow = out + row * OW * O;
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t ox = 0; ox < OW; ++ox) {  // gather the packed patches
          u64 *pp = patch.data() + ox * K;
          int32_t count = 0;
          for (int64_t ky = 0; ky < KH; ++ky)
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t iy = oy * sy - py + ky * dy, ix = ox * sx - px + kx * dx;
              const int64_t tap = ky * KW + kx;
              const bool ok = iy >= 0 && iy < H && ix >= 0 && ix < W;
              valid[ox * T + tap] = ok;
              count += ok;
              const u64 *src = in + ((n * H + iy) * W + ix) * in_words + g * Cgw;
              for (int64_t i = 0; i < Cgw; ++i) pp[tap * Cgw + i] = ok ? src[i] : 0;
            }
          nvalid[ox] = count;
        }
        for (int64_t b = 0; b < blocks; ++b) {
          kernel(wblk + (g * blocks + b) * K * BLOCK, patch.data(), (int)OW,
                 (int)K, K, acc.data());
          const int64_t o0 = g * Og + b * BLOCK;
          const int64_t nj = std::min<int64_t>(BLOCK, Og - b * BLOCK);
          for (int64_t ox = 0; ox < OW; ++ox) {
            int32_t *a = acc.data() + ox * BLOCK;
            if (nvalid[ox] != T)  // padded taps: take their weights' counts out
              for (int64_t tap = 0; tap < T; ++tap)
                if (!valid[ox * T + tap])
                  for (int64_t j = 0; j < nj; ++j) a[j] -= wpop[(o0 + j) * T + tap];
            const int32_t n_in = (int32_t)(Cg * nvalid[ox]);
            float *dst = orow + ox * O + o0;
            const float *r = res ? res + n * rn + o0 * rc + oy * rh + ox * rw : nullptr;
            for (int64_t j = 0; j < nj; ++j) {
              float y = alpha[o0 + j] * (float)(n_in - 2 * a[j]);
              y = y + beta[o0 + j];
              if (r) y = y + r[j * rc];
              if (clip) y = std::min(1.0f, std::max(-1.0f, y));
              dst[j] = y;
            }
          }
        }
      }
      if (out_bits)
        for (int64_t ox = 0; ox < OW; ++ox)
          pack(orow + ox * O, O, out_bits + (row * OW + ox) * out_words);
    }
  }
  return 0;
}
