// Runs the native library's entry points on cases written by
// tests/test_ops/test_native_aarch64.py, on every path an aarch64 build has
// (NEON and scalar), and writes what they return: the cross-compiled
// library's bit-exactness test under qemu-aarch64 (no Python there).
//
// File format (little-endian): int64 count, then per case an int64 kind and
// its int64 parameters and blobs (int64 byte length, bytes) in the order
// read below. Results: per case and path, blobs in the order written below.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mmbnn_abi.h"

extern "C" {
int mmbnn_conv(const uint64_t *in, const float *xf, int64_t N, int64_t H,
               int64_t W, const uint64_t *wblk, const uint64_t *wlo,
               const uint64_t *whi, const int32_t *wpop, int64_t G, int64_t Cg,
               int64_t Og, int64_t KH, int64_t KW, int64_t sy, int64_t sx,
               int64_t py, int64_t px, int64_t dy, int64_t dx,
               const float *alpha, const float *beta, const float *res,
               int64_t rn, int64_t rc, int64_t rh, int64_t rw, int clip,
               float *out, int64_t OH, int64_t OW, uint64_t *out_bits, int isa,
               int threads);
int mmbnn_pack(const float *x, int64_t P, int64_t C, int64_t G, uint64_t *out,
               int isa, int threads);
void mmbnn_sign(const float *x, float *out, int64_t n, int threads);
void mmbnn_tanh_sign_grad(const float *x, const float *grad, float *out,
                          int64_t n, float k, float t, int isa, int threads);
int mmbnn_isa_supported(int isa);
int mmbnn_abi_version();
double mmbnn_peak(int isa, int kind, double seconds);
}

static FILE *in_file, *out_file;

static int64_t i64() {
  int64_t v;
  if (fread(&v, 8, 1, in_file) != 1) { fprintf(stderr, "truncated\n"); exit(2); }
  return v;
}

static std::vector<char> blob() {
  std::vector<char> b(i64());
  if (!b.empty() && fread(b.data(), 1, b.size(), in_file) != b.size()) {
    fprintf(stderr, "truncated blob\n");
    exit(2);
  }
  return b;
}

template <typename T>
static void put(const std::vector<T> &v) {
  const int64_t n = (int64_t)(v.size() * sizeof(T));
  fwrite(&n, 8, 1, out_file);
  fwrite(v.data(), 1, n, out_file);
}

template <typename T>
static const T *ptr(const std::vector<char> &b) {
  return b.empty() ? nullptr : reinterpret_cast<const T *>(b.data());
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: driver CASES RESULTS\n"); return 2; }
  in_file = fopen(argv[1], "rb");
  out_file = fopen(argv[2], "wb");
  if (!in_file || !out_file) { perror("open"); return 2; }
  if (mmbnn_abi_version() != MMBNN_ABI_VERSION ||
      !mmbnn_isa_supported(MMBNN_ISA_NEON) || mmbnn_isa_supported(MMBNN_ISA_AVX2)) {
    fprintf(stderr, "unexpected ABI or instruction sets\n");
    return 3;
  }
  const int isas[2] = {MMBNN_ISA_NEON, MMBNN_ISA_SCALAR};
  const int threads = 2;
  for (int64_t c = 0, count = i64(); c < count; ++c) {
    const int64_t kind = i64();
    if (kind == 0) {  // conv: from packed bits, or from floats if in is empty
      int64_t p[22];
      for (int64_t &v : p) v = i64();
      const int64_t N = p[0], H = p[1], W = p[2], G = p[3], Cg = p[4],
                    Og = p[5], KH = p[6], KW = p[7], OH = p[20], OW = p[21];
      const auto in = blob(), xf = blob(), wblk = blob(), wpop = blob(),
                 alpha = blob(), beta = blob(), res = blob();
      const int64_t O = G * Og, out_words = (O + 63) / 64;
      for (int isa : isas) {
        std::vector<float> out(N * OH * OW * O);
        std::vector<uint64_t> bits(N * OH * OW * out_words);
        const int status = mmbnn_conv(
            ptr<uint64_t>(in), ptr<float>(xf), N, H, W, ptr<uint64_t>(wblk),
            ptr<uint64_t>(wblk), ptr<uint64_t>(wblk), ptr<int32_t>(wpop), G, Cg,
            Og, KH, KW, p[8], p[9], p[10], p[11], p[12], p[13],
            ptr<float>(alpha), ptr<float>(beta), ptr<float>(res), p[14], p[15],
            p[16], p[17], (int)p[18], out.data(), OH, OW,
            p[19] ? bits.data() : nullptr, isa, threads);
        if (status) { fprintf(stderr, "conv failed\n"); return 4; }
        put(out);
        put(bits);
      }
    } else if (kind == 1) {  // pack
      const int64_t P = i64(), C = i64(), G = i64();
      const auto x = blob();
      for (int isa : isas) {
        std::vector<uint64_t> out(P * G * ((C / G + 63) / 64));
        if (mmbnn_pack(ptr<float>(x), P, C, G, out.data(), isa, threads)) return 4;
        put(out);
      }
    } else if (kind == 2) {  // the training estimators: sign, tanh backward
      const auto x = blob(), grad = blob(), kt = blob();
      const int64_t n = (int64_t)(x.size() / 4);
      const float k = ptr<float>(kt)[0], t = ptr<float>(kt)[1];
      std::vector<float> sign(n);
      mmbnn_sign(ptr<float>(x), sign.data(), n, threads);
      put(sign);
      for (int isa : isas) {
        std::vector<float> out(n);
        mmbnn_tanh_sign_grad(ptr<float>(x), ptr<float>(grad), out.data(), n, k,
                             t, isa, threads);
        put(out);
      }
    } else if (kind == 3) {  // the benchmark's ceilings: NEON, scalar
      std::vector<double> peaks = {mmbnn_peak(MMBNN_ISA_NEON, 0, 0.01),
                                   mmbnn_peak(MMBNN_ISA_NEON, 1, 0.01),
                                   mmbnn_peak(MMBNN_ISA_SCALAR, 0, 0.01),
                                   mmbnn_peak(MMBNN_ISA_AVX2, 0, 0.01)};
      put(peaks);
    } else {
      fprintf(stderr, "unknown case kind %lld\n", (long long)kind);
      return 2;
    }
  }
  fclose(out_file);
  return 0;
}
