"""Speed and size of the XNOR-popcount runtime against PyTorch float32 and
int8, timed in one process (ratios of medians; absolute times on a shared
machine mean little): each function in its steady state, the second of two
calls in a row, the rounds interleaved (``medians``). docs/deploy.md has
the figures.

    python tools/benchmarks/runtime.py [--runs 30] [--json OUT] [--quick]
                                       [--avx2-only]

(a) every 3x3 binary conv shape of ResNet-18 at 224 px, sign packing of the
float input included, against torch's float32 conv (the faster of NCHW and
channels-last) and its int8 quantized conv (x86/fbgemm; qnnpack on ARM;
input quantized beforehand), on each instruction set the CPU has (AVX-512,
AVX2; NEON on aarch64, where the same command runs unchanged); (b) the binary ResNet-18
classifier (batch 1, 224 px) against torchvision's float32 ResNet-18; (c) the
binary backbone + neck of the demo SSD and of SSD300 against their FP twins;
(d) the size of the exported binary ResNet-18 against its float32 weights.
Each at one thread and at all cores.

First the machine: its CPU model, the instruction-set flags that matter
(AVX2, AVX-512 VPOPCNTDQ, VNNI, AMX; NEON and its dot product on ARM) and
its ceilings, measured by the native library's register-only loops
(``native.peak_rates``): XNOR-popcount bit-MACs per second with each
path's conv step, fp32 FMA lanes per second; per core, and of all cores
running the loop at once (virtual cores that share a physical one reach
less than their count times one core's: the bound of any many-thread
speedup). Each 3x3 layer's rate is given as G bit-MAC/s and as a fraction
of its path's ceiling (one core's, or all cores' on all threads). The whole
binary ResNet-18 is also timed against torchvision's
int8 ResNet-18 (fused, calibrated on random input, PyTorch's int8 engine
for the CPU), with its time broken down by part.

``--avx2-only`` runs it again in a process whose libraries are all held to
AVX2 (``AVX2_ONLY``: this library's kernels, oneDNN's and fbgemm's, which
run PyTorch's float and int8 convs, and ATen's own): an AVX2-only CPU
emulated on this one, for the issue's AVX2 goals where no such machine is
at hand (the clock, caches and memory stay this machine's).
"""
import argparse
import copy
import json
import logging
import os
import random
import sys
import tempfile
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

# Quiet output: third-party notices that say nothing about the figures
# (mmengine's pkg_resources import, torch's build helper on a machine
# without CUDA).
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmbnn.apis import init_model, load_config  # noqa: E402
from mmbnn.deploy.int8 import (quantize_float_layers,  # noqa: E402
                               use_int8_engine)
from mmbnn.ops import native  # noqa: E402
from mmbnn.ops.bits import pack_bit_words  # noqa: E402
from mmbnn.ops.xnor_conv import (ConvCall, PackedWeight,  # noqa: E402
                                 pack_activations)

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


# What --avx2-only sets: each library reads its variable when it loads.
AVX2_ONLY = dict(MMBNN_ISA='avx2', ONEDNN_MAX_CPU_ISA='AVX2',
                 FBGEMM_ENABLE_INSTRUCTIONS='AVX2', ATEN_CPU_CAPABILITY='avx2')

# /proc/cpuinfo flags worth naming (x86 "flags", ARM "Features").
FLAGS = dict(avx2='avx2', avx512f='avx512f', avx512_vpopcntdq='avx512_vpopcntdq',
             avx512_vnni='avx512_vnni', avx_vnni='avx_vnni', amx_int8='amx_int8',
             neon='asimd', neon_dotprod='asimddp')


def machine(cores: int = 1) -> dict:
    """The CPU model, the flags above it has, and its ceilings on every
    native path (``native.peak_rates``): per core (``ceilings``) and, with
    ``cores`` > 1, of that many threads running the loop at once
    (``ceilings_all_cores``: what a many-thread speedup can reach here;
    less than ``cores`` times one core's where virtual cores share a
    physical one)."""
    info = native.cpu_info()
    isas = [isa for isa in native.available_isas() if isa != 'reference']
    result = dict(cpu=info['cpu'], arch=info['arch'],
                  flags=sorted(k for k, v in FLAGS.items()
                               if v in info['flags']),
                  ceilings={isa: native.peak_rates(isa) for isa in isas})
    if cores > 1:
        result['ceilings_all_cores'] = {
            isa: native.peak_rates(isa, threads=cores) for isa in isas}
    return result


def medians(fns: dict, runs: int, after_switch: dict = None) -> dict:
    """Median seconds of each function in its steady state, as a model
    called again and again runs: each of ``runs`` rounds calls every
    function twice in a row and times the second call (the first brings
    back into the caches what the other functions' calls evicted); the
    rounds interleave the functions, so that the machine's load drifts hit
    all alike, each round in a new (seeded) order: a model timed right
    after torchvision's int8 one was measured 0.2-0.3 ms slower than
    after another, whatever the warm-up call. With ``after_switch`` (a
    dict), the medians of the first calls go there: each function right
    after others ran, its weights partly evicted (what this benchmark
    timed up to 2026-12-05, which favoured the smaller binary weights)."""
    order = list(fns)
    shuffle = random.Random(0).shuffle
    with torch.no_grad():
        times = {name: [] for name in fns}
        firsts = {name: [] for name in fns}
        for _ in range(runs):
            shuffle(order)
            for name in order:
                fn = fns[name]
                for series in (firsts, times):
                    start = time.perf_counter()
                    fn()
                    series[name].append(time.perf_counter() - start)
    if after_switch is not None:
        after_switch.update(_median_each(firsts))
    return _median_each(times)


def _median_each(times: dict) -> dict:
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def int8_conv(cin, cout, stride):
    import torch.ao.nn.quantized as nnq
    use_int8_engine()
    conv = nnq.Conv2d(cin, cout, 3, stride, 1)
    w = torch.randn(cout, cin, 3, 3)
    qw = torch.quantize_per_channel(w, w.abs().amax((1, 2, 3)) / 127,
                                    torch.zeros(cout, dtype=torch.long), 0,
                                    torch.qint8)
    conv.set_weight_bias(qw, None)
    return conv


def bench_layers(isas, runs, ceilings, threads):
    """Each 3x3 layer on each path, on ``threads`` threads; its fraction of
    ``ceilings[isa]['xnor_bitmacs']``, the ceiling of as many threads."""
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
        # In a network the previous fused block hands over its output's sign
        # bits: the packed-input time is the layer as the network runs it,
        # its native call prepared once for the shape (as XnorConv2d does).
        bits = pack_activations(x_cl, 1, isas[0])
        ones, zeros = torch.ones(cout), torch.zeros(cout)
        for isa in isas:
            calls = [ConvCall(x.shape, packed_w, (stride, stride), (1, 1),
                              (1, 1), ones, zeros, None, False, False, packed,
                              isa, threads) for packed in (False, True)]
            fns[isa] = lambda c=calls[0]: c(x_cl)
            fns[isa + '_packed'] = lambda c=calls[1]: c(x_cl, bits)
        t = medians(fns, runs)
        fp32 = min(t['fp32_nchw'], t['fp32_cl'])
        out = (size + stride - 1) // stride
        bitmacs = out * out * cout * cin * 9  # batch 1

        def rates(isa):
            gbit = bitmacs / t[isa] / 1e9
            ceiling = ceilings[isa]['xnor_bitmacs']
            return dict(binary_ms=t[isa] * 1e3, speedup_fp32=fp32 / t[isa],
                        speedup_int8=t['int8'] / t[isa], gbitmacs=gbit,
                        ceiling_fraction=gbit * 1e9 / ceiling,
                        packed_input_ms=t[isa + '_packed'] * 1e3,
                        ceiling_fraction_packed_input=bitmacs / t[
                            isa + '_packed'] / ceiling)
        by_isa = {isa: rates(isa) for isa in isas}
        row = dict(shape=f'{cin}->{cout} {size}x{size} s{stride}',
                   fp32_ms=fp32 * 1e3, int8_ms=t['int8'] * 1e3, isa=isas[0],
                   **by_isa[isas[0]], by_isa=by_isa)
        rows.append(row)
        print(f'  {row["shape"]:>22}: fp32 {row["fp32_ms"]:6.2f} ms, int8 '
              f'{row["int8_ms"]:6.2f} ms; ' + ', '.join(
                  f'{isa} {v["binary_ms"]:.3f} ms = {v["speedup_fp32"]:.1f}x '
                  f'fp32, {v["speedup_int8"]:.1f}x int8, {v["gbitmacs"]:.0f} '
                  f'G bit-MAC/s = {100 * v["ceiling_fraction"]:.0f}% of the '
                  f'ceiling (packed input {v["packed_input_ms"]:.3f} ms = '
                  f'{100 * v["ceiling_fraction_packed_input"]:.0f}%)'
                  for isa, v in row['by_isa'].items()))
    return rows


def _built(name, xnor):
    from mmbnn.deploy import to_xnor
    torch.manual_seed(0)
    model = init_model(os.path.join(ROOT, CONFIGS[name]))
    return to_xnor(model) if xnor else model


def int8_resnet18():
    """torchvision's int8 ResNet-18: fused, observed on random input and
    converted on PyTorch's int8 engine for this CPU (random weights: the
    speed, not the accuracy, is measured)."""
    from torch.ao.quantization import convert, get_default_qconfig, prepare
    from torchvision.models.quantization import resnet18
    engine = use_int8_engine()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch.ao deprecation notices
        model = resnet18(weights=None, quantize=False).eval()
        model.fuse_model()
        model.qconfig = get_default_qconfig(engine)
        prepare(model, inplace=True)
        with torch.no_grad():
            for _ in range(4):
                model(torch.randn(1, 3, 224, 224))
        convert(model, inplace=True)
    return model


def breakdown(model, x, runs):
    """Median milliseconds of the binary network's parts in one forward:
    the binary convs' library calls (with their fused BN, residual,
    Hardtanh and sign packing), the rest of the binary blocks' time (their
    Python, output allocations, cache keys; a sequence of chained blocks
    timed as a whole: a hook on one of its convs would make it run conv
    by conv; the shortcuts' time taken out), the full-precision downsample
    shortcuts, the stem, neck and head, and the rest (Python between the
    modules, the data handed on). An int8 shortcut that runs inside its
    stage's library call is in ``binary convs`` (a hook on it would take it
    out of the call); ``FP shortcuts`` is then 0."""
    from mmbnn.deploy.convert import _ChainedSequence, _int8_shortcut
    from mmbnn.deploy.int8 import _native_int8_isa
    from mmbnn.deploy.xnor_layers import XnorConv2d
    parts, chained = {}, []
    for name, module in model.named_modules():
        if any(name.startswith(outer + '.') for outer in chained):
            if name.endswith('.shortcut') and isinstance(
                    module, nn.Sequential) and (
                        _int8_shortcut(module) is None
                        or _native_int8_isa() is None):
                parts[name] = 'FP shortcuts'
            continue
        if isinstance(module, _ChainedSequence):
            chained.append(name)
            parts[name] = 'binary blocks'
        elif any(isinstance(c, XnorConv2d) for c in module.children()):
            parts[name] = 'binary blocks'
        elif name.endswith('.shortcut') and isinstance(module,
                                                       nn.Sequential):
            # a downsample (pool, conv, BN): float or int8 layers
            parts[name] = 'FP shortcuts'
        elif name in ('backbone.stem', 'neck', 'head'):
            parts[name] = f'FP {name.split(".")[-1]}'
    spent, starts = {}, {}

    def pre(name):
        return lambda m, a: starts.__setitem__(name, time.perf_counter())

    def post(name):
        def hook(m, a, out):
            part = parts[name]
            spent[part] = spent.get(part, 0.0) + time.perf_counter() - starts[name]
            if part == 'FP shortcuts':  # inside a binary block's time
                spent['binary blocks'] = spent.get('binary blocks', 0.0) - (
                    time.perf_counter() - starts[name])
        return hook

    # The library calls of the binary convs, timed inside the blocks: the
    # blocks' remainder is their Python, allocations and keys.
    from mmbnn.ops import xnor_conv
    native_call = xnor_conv._run_native

    def timed_call(*args):
        start = time.perf_counter()
        try:
            return native_call(*args)
        finally:
            spent['binary convs'] = spent.get('binary convs', 0.0) + \
                time.perf_counter() - start

    handles = []
    for name in parts:
        module = model.get_submodule(name)
        handles += [module.register_forward_pre_hook(pre(name)),
                    module.register_forward_hook(post(name))]
    samples = []
    xnor_conv._run_native = timed_call
    try:
        with torch.no_grad():
            for _ in range(runs + 1):
                spent.clear()
                start = time.perf_counter()
                model(x, mode='tensor')
                total = time.perf_counter() - start
                convs = spent.pop('binary convs', 0.0)
                spent['binary convs'] = convs
                spent.setdefault('FP shortcuts', 0.0)
                spent['binary block overhead'] = spent.pop(
                    'binary blocks', 0.0) - convs
                spent['rest'] = total - sum(spent.values())
                samples.append(dict(spent))
    finally:
        xnor_conv._run_native = native_call
        for h in handles:
            h.remove()
    return {part: sorted(s[part] for s in samples[1:])[runs // 2] * 1e3
            for part in samples[-1]}


def binary_resnet18s():
    """The binary ResNet-18 on the XNOR runtime, and a copy of it with its
    full-precision layers in int8 (calibrated on 4 random channels-last
    batches)."""
    binary = _built('resnet18', True)
    binary_int8 = copy.deepcopy(binary)
    quantize_float_layers(binary_int8, [torch.randn(1, 3, 224, 224)
                                        .contiguous(memory_format=torch
                                                    .channels_last)
                                        for _ in range(4)],
                          lambda m, b: m(b, mode='tensor'))
    return binary, binary_int8


def frozen_copy(model):
    """A copy of a binary model with its stages frozen
    (``mmbnn.deploy.freeze``: no checks of their weights after the first
    call), as a deployed model runs."""
    from mmbnn.deploy import freeze
    model = copy.deepcopy(model)
    freeze(model)
    return model


def bench_resnet18(runs):
    """Binary ResNet-18 (float and int8 full-precision layers) against
    torchvision's fp32 and int8 ResNet-18."""
    import torchvision
    binary, binary_int8 = binary_resnet18s()
    frozen = frozen_copy(binary_int8)
    x = torch.randn(1, 3, 224, 224)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    fp = torchvision.models.resnet18().eval()
    int8 = int8_resnet18()
    cold = {}
    t = medians(dict(fp_nchw=lambda: fp(x), fp_cl=lambda: fp(x_cl),
                     int8=lambda: int8(x),
                     binary=lambda: binary(x_cl, mode='tensor'),
                     binary_int8=lambda: binary_int8(x_cl, mode='tensor'),
                     frozen=lambda: frozen(x_cl, mode='tensor')),
                runs, cold)
    fp_t = min(t['fp_nchw'], t['fp_cl'])
    fp_cold = min(cold['fp_nchw'], cold['fp_cl'])
    return dict(fp32_ms=fp_t * 1e3, int8_ms=t['int8'] * 1e3,
                after_switch=dict(
                    fp32_ms=fp_cold * 1e3, int8_ms=cold['int8'] * 1e3,
                    binary_int8_fp_layers_ms=cold['binary_int8'] * 1e3,
                    speedup_int8_fp_layers=fp_cold / cold['binary_int8'],
                    speedup_int8_fp_layers_vs_int8=cold['int8']
                    / cold['binary_int8']),
                binary_ms=t['binary'] * 1e3, speedup=fp_t / t['binary'],
                speedup_int8=t['int8'] / t['binary'],
                binary_int8_fp_layers_ms=t['binary_int8'] * 1e3,
                speedup_int8_fp_layers=fp_t / t['binary_int8'],
                speedup_int8_fp_layers_vs_int8=t['int8'] / t['binary_int8'],
                binary_int8_frozen_ms=t['frozen'] * 1e3,
                speedup_int8_frozen_vs_int8=t['int8'] / t['frozen'],
                breakdown_ms=breakdown(binary, x_cl, runs),
                breakdown_int8_fp_layers_ms=breakdown(binary_int8, x_cl, runs))


def thread_scaling(runs, cores):
    """One thread's time over ``cores`` threads' of the binary ResNet-18
    (float and int8 full-precision layers) and of torchvision's int8 one,
    timed interleaved (each round switches the thread count before each
    call), so that the machine's drift between two phases does not enter
    the ratio; a copy of each binary model a thread count (their prepared
    native calls are per thread count)."""
    binary, binary_int8 = binary_resnet18s()
    int8 = int8_resnet18()
    x = torch.randn(1, 3, 224, 224).contiguous(
        memory_format=torch.channels_last)

    def on(threads, model, **kwargs):
        def run():
            torch.set_num_threads(threads)
            model(x, **kwargs)
        return run
    fns = {}
    for threads in (1, cores):
        fns[f'binary_{threads}'] = on(threads, copy.deepcopy(binary),
                                      mode='tensor')
        fns[f'binary_int8_{threads}'] = on(threads,
                                           copy.deepcopy(binary_int8),
                                           mode='tensor')
        fns[f'frozen_{threads}'] = on(threads, frozen_copy(binary_int8),
                                      mode='tensor')
        fns[f'int8_{threads}'] = on(threads, int8)
    t = medians(fns, runs)
    torch.set_num_threads(cores)
    return {key: t[f'{key}_1'] / t[f'{key}_{cores}']
            for key in ('binary', 'binary_int8', 'frozen', 'int8')}


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
    parser.add_argument('--avx2-only', action='store_true',
                        help='hold every library to AVX2 (an AVX2-only CPU '
                        'emulated on this one; see AVX2_ONLY)')
    args = parser.parse_args(argv)
    avx2_only = all(os.environ.get(k) == v for k, v in AVX2_ONLY.items())
    if args.avx2_only and not avx2_only:
        import subprocess
        argv = sys.argv[1:] if argv is None else argv
        return subprocess.call([sys.executable, os.path.abspath(__file__),
                                *argv], env={**os.environ, **AVX2_ONLY})
    isas = [i for i in native.available_isas() if i != 'reference']
    if os.environ.get('MMBNN_ISA'):
        isas = [native.select_isa()]
    isas = [i for i in isas if i != 'scalar'] or isas
    cores = os.cpu_count() or 1
    info = machine(1 if args.quick else cores)
    result = dict(isa=isas[0], isas=isas, cpu_count=cores, runs=args.runs,
                  machine=info, threads={}, avx2_only=avx2_only)
    print(f'CPU {info["cpu"]} ({info["arch"]}); flags: '
          f'{", ".join(info["flags"]) or "none of note"}; {cores} cores')
    if avx2_only:
        print('every library held to AVX2 (' + ', '.join(
            f'{k}={v}' for k, v in AVX2_ONLY.items()) + '): an AVX2-only '
            'CPU emulated on this one')
    print(f'instruction sets: {isas} (best first); ceilings per core: ' +
          '; '.join(f'{isa} {c["xnor_bitmacs"] / 1e9:.0f} G bit-MAC/s' +
                    (f', fp32 FMA {c["fp32_macs"] / 1e9:.0f} G MAC/s'
                     if c['fp32_macs'] else '')
                    for isa, c in info['ceilings'].items()))
    if 'ceilings_all_cores' in info:
        # All cores' popcount ceiling over one core's, each path.
        result['ceiling_thread_scaling'] = {
            isa: c['xnor_bitmacs'] / info['ceilings'][isa]['xnor_bitmacs']
            for isa, c in info['ceilings_all_cores'].items()}
        print(f'ceilings of all {cores} cores at once: ' + '; '.join(
            f'{isa} {c["xnor_bitmacs"] / 1e9:.0f} G bit-MAC/s '
            f'({result["ceiling_thread_scaling"][isa]:.2f}x one core)'
            for isa, c in info['ceilings_all_cores'].items()))
    for threads in ([1] if args.quick else sorted({1, cores})):
        torch.set_num_threads(threads)
        print(f'{threads} thread(s):')
        ceilings = info['ceilings'] if threads == 1 else \
            info['ceilings_all_cores']
        part = dict(layers=bench_layers(isas, args.runs, ceilings, threads))
        part['resnet18'] = r18 = bench_resnet18(max(5, args.runs // 3))
        print(f'  binary ResNet-18 {r18["binary_ms"]:.1f} ms, fp32 ResNet-18 '
              f'{r18["fp32_ms"]:.1f} ms ({r18["speedup"]:.2f}x), int8 '
              f'ResNet-18 {r18["int8_ms"]:.1f} ms ({r18["speedup_int8"]:.2f}x)')
        print(f'  with int8 full-precision layers (--int8) '
              f'{r18["binary_int8_fp_layers_ms"]:.1f} ms: '
              f'{r18["speedup_int8_fp_layers"]:.2f}x fp32, '
              f'{r18["speedup_int8_fp_layers_vs_int8"]:.2f}x int8; '
              f'frozen (mmbnn.deploy.freeze) '
              f'{r18["binary_int8_frozen_ms"]:.1f} ms: '
              f'{r18["speedup_int8_frozen_vs_int8"]:.2f}x int8')
        cold = r18['after_switch']
        print(f'  each network right after the others ran (caches partly '
              f'evicted): int8 FP layers {cold["binary_int8_fp_layers_ms"]:.1f}'
              f' ms: {cold["speedup_int8_fp_layers"]:.2f}x fp32, '
              f'{cold["speedup_int8_fp_layers_vs_int8"]:.2f}x int8')
        for key, label in (('breakdown_ms', 'by part'),
                           ('breakdown_int8_fp_layers_ms',
                            'by part, int8 FP layers')):
            print(f'  binary ResNet-18 {label}: ' + ', '.join(
                f'{k} {v:.2f} ms' for k, v in r18[key].items()))
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
    result['resnet18_speedup_int8_1thread'] = one['resnet18']['speedup_int8']
    result['size_ratio_resnet18'] = result['size']['size_ratio_fp16']
    result['layers'] = one['layers']
    if str(cores) in result['threads'] and cores > 1:
        # From the two phases above (the machine may drift between them),
        # and timed interleaved (the figure to quote).
        result['resnet18_thread_scaling_phases'] = {
            key: one['resnet18'][key] / result['threads'][str(cores)][
                'resnet18'][key]
            for key in ('binary_ms', 'binary_int8_fp_layers_ms')}
        scaling = thread_scaling(max(5, args.runs // 2), cores)
        result['resnet18_thread_scaling'] = dict(
            binary_ms=scaling['binary'],
            binary_int8_fp_layers_ms=scaling['binary_int8'],
            binary_int8_frozen_ms=scaling['frozen'],
            torchvision_int8_ms=scaling['int8'])
        print(f'binary ResNet-18 on {cores} threads (timed interleaved with '
              f'one): {scaling["binary"]:.2f}x one thread, '
              f'{scaling["binary_int8"]:.2f}x with int8 FP layers, '
              f'{scaling["frozen"]:.2f}x frozen (torchvision int8: '
              f'{scaling["int8"]:.2f}x); the popcount '
              f'ceiling: {result["ceiling_thread_scaling"][isas[0]]:.2f}x')
    print(f'binary ResNet-18 file: {result["size"]["size_ratio_fp16"]:.1f}x '
          f'smaller than its float32 weights with --fp16, '
          f'{result["size"]["size_ratio_fp32"]:.1f}x without')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
