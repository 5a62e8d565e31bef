"""Speed and size of the XNOR-popcount runtime against PyTorch float32 and
int8, timed in one process (ratios of medians; absolute times on a shared
machine mean little). docs/deploy.md has the figures.

    python tools/benchmarks/runtime.py [--runs 30] [--json OUT] [--quick]

(a) every 3x3 binary conv shape of ResNet-18 at 224 px, sign packing of the
float input included, against torch's float32 conv (the faster of NCHW and
channels-last) and its int8 quantized conv (x86/fbgemm; qnnpack on ARM;
input quantized beforehand), on each instruction set the CPU has (AVX-512,
AVX2; NEON on aarch64, where the same command runs unchanged); (b) the binary ResNet-18
classifier (batch 1, 224 px) against torchvision's float32 ResNet-18; (c) the
binary backbone + neck of the demo SSD and of SSD300 against their FP twins;
(d) the size of the exported binary ResNet-18 against its float32 weights.
Each at one thread and at all cores.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmbnn.apis import init_model, load_config  # noqa: E402
from mmbnn.ops import native  # noqa: E402
from mmbnn.ops.bits import pack_bit_words  # noqa: E402
from mmbnn.ops.xnor_conv import PackedWeight, xnor_conv2d  # noqa: E402

# (in, out, input size, stride) of ResNet-18's 3x3 convs at 224 px.
RESNET18_3X3 = [(64, 64, 56, 1), (64, 128, 56, 2), (128, 128, 28, 1),
                (128, 256, 28, 2), (256, 256, 14, 1), (256, 512, 14, 2),
                (512, 512, 7, 1)]
CONFIGS = dict(
    resnet18='configs/imagenet/bnn_resnet18-bireal_8xb32_in1k.py',
    demo_ssd='configs/demo/bnn_ssd192_vgg16-w0.25_synthvoc.py',
    demo_ssd_fp='configs/demo/ssd192_vgg16-w0.25_fp_synthvoc.py',
    ssd300='configs/bnn_ssd300_voc.py',
    ssd300_fp='configs/ssd300_vgg16bn_fp_voc.py')


def medians(fns: dict, runs: int) -> dict:
    """Median seconds of each function, calls interleaved so that the
    machine's load drifts hit all alike (after one warm-up call each)."""
    with torch.no_grad():
        for fn in fns.values():
            fn()
        times = {name: [] for name in fns}
        for _ in range(runs):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def int8_conv(cin, cout, stride):
    import torch.ao.nn.quantized as nnq
    # PyTorch's own int8 engine for this CPU: x86 (oneDNN + fbgemm), fbgemm,
    # or on ARM qnnpack.
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = next(
        e for e in ('x86', 'fbgemm', 'qnnpack') if e in engines)
    conv = nnq.Conv2d(cin, cout, 3, stride, 1)
    w = torch.randn(cout, cin, 3, 3)
    qw = torch.quantize_per_channel(w, w.abs().amax((1, 2, 3)) / 127,
                                    torch.zeros(cout, dtype=torch.long), 0,
                                    torch.qint8)
    conv.set_weight_bias(qw, None)
    return conv


def bench_layers(isas, runs):
    rows = []
    for cin, cout, size, stride in RESNET18_3X3:
        torch.manual_seed(0)
        x = torch.randn(1, cin, size, size)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        w = torch.randn(cout, cin, 3, 3)
        packed_w = PackedWeight(pack_bit_words((w >= 0).permute(0, 2, 3, 1)),
                                cin, 1)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch.ao deprecation notices
            q = int8_conv(cin, cout, stride)
            xq = torch.quantize_per_tensor(x_cl, 0.05, 128, torch.quint8)
        fns = dict(fp32_nchw=lambda: F.conv2d(x, w, None, stride, 1),
                   fp32_cl=lambda: F.conv2d(x_cl, w, None, stride, 1),
                   int8=lambda: q(xq))
        for isa in isas:
            fns[isa] = (lambda isa=isa: xnor_conv2d(
                x_cl, packed_w, (stride, stride), (1, 1), isa=isa))
        t = medians(fns, runs)
        fp32 = min(t['fp32_nchw'], t['fp32_cl'])
        row = dict(shape=f'{cin}->{cout} {size}x{size} s{stride}',
                   fp32_ms=fp32 * 1e3, int8_ms=t['int8'] * 1e3,
                   isa=isas[0], binary_ms=t[isas[0]] * 1e3,
                   speedup_fp32=fp32 / t[isas[0]],
                   speedup_int8=t['int8'] / t[isas[0]],
                   by_isa={isa: dict(binary_ms=t[isa] * 1e3,
                                     speedup_fp32=fp32 / t[isa],
                                     speedup_int8=t['int8'] / t[isa])
                           for isa in isas})
        rows.append(row)
        print(f'  {row["shape"]:>22}: fp32 {row["fp32_ms"]:6.2f} ms, int8 '
              f'{row["int8_ms"]:6.2f} ms; ' + ', '.join(
                  f'{isa} {v["binary_ms"]:.3f} ms = {v["speedup_fp32"]:.1f}x '
                  f'fp32, {v["speedup_int8"]:.1f}x int8'
                  for isa, v in row['by_isa'].items()))
    return rows


def _built(name, xnor):
    from mmbnn.deploy import to_xnor
    torch.manual_seed(0)
    model = init_model(os.path.join(ROOT, CONFIGS[name]))
    return to_xnor(model) if xnor else model


def bench_resnet18(runs):
    import torchvision
    binary = _built('resnet18', True)
    fp = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    t = medians(dict(fp_nchw=lambda: fp(x), fp_cl=lambda: fp(x_cl),
                     binary=lambda: binary(x_cl, mode='tensor')), runs)
    fp_t = min(t['fp_nchw'], t['fp_cl'])
    return dict(fp32_ms=fp_t * 1e3, binary_ms=t['binary'] * 1e3,
                speedup=fp_t / t['binary'])


def bench_ssd(name, runs):
    cfg = load_config(os.path.join(ROOT, CONFIGS[name]))
    size = cfg.get('input_size', 300)
    binary, fp = _built(name, True), _built(name + '_fp', False)
    x = torch.randn(1, 3, size, size).contiguous(
        memory_format=torch.channels_last)
    t = medians(dict(fp=lambda: fp.extract_feat(x),
                     binary=lambda: binary.extract_feat(x)), runs)
    return dict(input=size, fp32_ms=t['fp'] * 1e3, binary_ms=t['binary'] * 1e3,
                speedup=t['fp'] / t['binary'])


def size_resnet18():
    from mmbnn.deploy import export_model
    model = _built('resnet18', False)
    with tempfile.TemporaryDirectory() as tmp:
        fp16 = export_model(model, os.path.join(tmp, 'a.mmbnn'), True)
        fp32 = export_model(model, os.path.join(tmp, 'b.mmbnn'), False)
    return dict(fp32_weights_bytes=fp16['fp32_state_bytes'],
                file_bytes_fp16=fp16['file_bytes'],
                file_bytes_fp32=fp32['file_bytes'],
                size_ratio_fp16=fp16['size_ratio'],
                size_ratio_fp32=fp32['size_ratio'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=30)
    parser.add_argument('--json', help='write the figures here')
    parser.add_argument('--quick', action='store_true',
                        help='layers and ResNet-18 only, one thread')
    args = parser.parse_args(argv)
    isas = [i for i in native.available_isas() if i != 'reference']
    if os.environ.get('MMBNN_ISA'):
        isas = [native.select_isa()]
    isas = [i for i in isas if i != 'scalar'] or isas
    cores = os.cpu_count() or 1
    result = dict(isa=isas[0], isas=isas, cpu_count=cores, runs=args.runs,
                  threads={})
    print(f'instruction sets: {isas} (best first); {cores} cores')
    for threads in ([1] if args.quick else sorted({1, cores})):
        torch.set_num_threads(threads)
        print(f'{threads} thread(s):')
        part = dict(layers=bench_layers(isas, args.runs))
        part['resnet18'] = bench_resnet18(max(5, args.runs // 3))
        print(f'  binary ResNet-18 {part["resnet18"]["binary_ms"]:.1f} ms, fp32 '
              f'ResNet-18 {part["resnet18"]["fp32_ms"]:.1f} ms: '
              f'{part["resnet18"]["speedup"]:.2f}x')
        if not args.quick:
            for name in ('demo_ssd', 'ssd300'):
                part[name] = bench_ssd(name, max(5, args.runs // 3))
                print(f'  {name} backbone+neck {part[name]["binary_ms"]:.1f} ms, '
                      f'FP {part[name]["fp32_ms"]:.1f} ms: '
                      f'{part[name]["speedup"]:.2f}x')
        result['threads'][str(threads)] = part
    result['size'] = size_resnet18()
    one = result['threads']['1']
    result['resnet18_speedup_1thread'] = one['resnet18']['speedup']
    result['size_ratio_resnet18'] = result['size']['size_ratio_fp16']
    result['layers'] = one['layers']
    print(f'binary ResNet-18 file: {result["size"]["size_ratio_fp16"]:.1f}x '
          f'smaller than its float32 weights with --fp16, '
          f'{result["size"]["size_ratio_fp32"]:.1f}x without')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
