// The contract between mmbnn's native library and mmbnn/ops/native.py, which
// reads these definitions from this file (one place for both sides): the
// library's ABI version (bump it when an exported signature changes), the
// instruction-set codes its entry points take, and the number of output
// channels a packed weight block holds.
#ifndef MMBNN_ABI_H_
#define MMBNN_ABI_H_

#define MMBNN_ABI_VERSION 15

#define MMBNN_ISA_SCALAR 0
#define MMBNN_ISA_AVX2 1
#define MMBNN_ISA_AVX512 2
#define MMBNN_ISA_NEON 3

#define MMBNN_BLOCK 8

#endif  // MMBNN_ABI_H_
