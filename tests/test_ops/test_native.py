"""mmbnn/ops/native.py: choosing an instruction set, building without a
compiler, and the training passes against PyTorch's formulas."""
import math
import re

import pytest
import torch

from conftest import ISA_PATHS, force_isa, packed_weight
from mmbnn.ops import native
from mmbnn.ops.xnor_conv import xnor_conv2d
from reference import signs


def test_instruction_set_choice_and_errors(monkeypatch):
    monkeypatch.delenv('MMBNN_ISA', raising=False)
    assert native.select_isa() == native.available_isas()[0]
    monkeypatch.setenv('MMBNN_ISA', 'sse9')
    with pytest.raises(ValueError, match=r"unknown instruction set 'sse9'"):
        native.select_isa()
    missing = [isa for isa in native.ISAS
               if isa not in native.available_isas()]
    if missing and native.library() is not None:
        monkeypatch.setenv('MMBNN_ISA', missing[0])
        with pytest.raises(RuntimeError, match='this CPU does not support it'):
            native.select_isa()


def _clear_kernel_caches():
    for cached in (native.library, native._native_isas, native._select):
        cached.cache_clear()


def test_no_compiler_means_the_reference_path_with_a_warning(monkeypatch):
    import torch.utils.cpp_extension as ext

    def no_compiler(*args, **kwargs):
        raise RuntimeError('no C++ compiler')

    monkeypatch.setattr(ext, 'load', no_compiler)
    monkeypatch.delenv('MMBNN_ISA', raising=False)
    _clear_kernel_caches()
    try:
        with pytest.warns(UserWarning, match='could not be built.*no C.. '
                          'compiler.*reference path'):
            assert native.available_isas() == ['reference']
        assert native.select_isa() == 'reference'
        with pytest.raises(RuntimeError, match='native library is not built'):
            native.select_isa('avx2')
        y, _ = xnor_conv2d(torch.ones(1, 3, 4, 4),
                                   packed_weight(torch.ones(2, 3, 3, 3)), (1, 1),
                                   (1, 1))
        assert y[0, 0, 0, 0] == 12
    finally:
        monkeypatch.undo()
        _clear_kernel_caches()


@pytest.mark.parametrize('isa', [i for i in ISA_PATHS if i != 'reference'])
def test_fused_training_estimators_equal_the_pytorch_ones(monkeypatch, isa):
    """The native sign and tanh backward against mmbnn.ops' PyTorch
    formulas (MMBNN_ISA=reference) on random inputs, including exact zeros,
    saturated elements, a non-contiguous input and a stage-2 cap."""
    from mmbnn.ops import binary_sign, dte_sign, ede_sign
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 37, 11, generator=gen) * 3
    x[0, 0, :4] = torch.tensor([0.0, -0.0, 30.0, -30.0])
    grad = torch.randn(6, 37, 11, generator=gen)
    cases = [(ede_sign, dict(k=1.0, t=1.0)), (ede_sign, dict(k=10.0, t=0.1)),
             (dte_sign, dict(k=1.0, t=10.0, t_cap=torch.tensor(2.5))),
             (dte_sign, dict(k=torch.tensor(0.5), t=torch.tensor(3.3)))]

    def run(fn, kwargs, inp):
        leaf = inp.clone().requires_grad_()
        out = fn(leaf.transpose(1, 2), **kwargs)  # not contiguous
        out.backward(grad.transpose(1, 2))
        return out, leaf.grad

    for fn, kwargs in cases:
        force_isa(monkeypatch, isa)
        out, g = run(fn, kwargs, x)
        monkeypatch.setenv('MMBNN_ISA', 'reference')
        ref_out, ref_g = run(fn, kwargs, x)
        assert torch.equal(out, ref_out)
        # float32 rounding of the same function: ~1e-7 of its peak k t
        kt = float(torch.as_tensor(kwargs['k'])) * min(
            float(torch.as_tensor(kwargs['t'])),
            float(kwargs.get('t_cap', float('inf'))))
        torch.testing.assert_close(g, ref_g, rtol=1e-5, atol=4e-6 * kt)
    force_isa(monkeypatch, isa)
    assert torch.equal(binary_sign(x), signs(x))
    # What the native path does not take stays PyTorch's: float64 exactly.
    xd = x.double().requires_grad_()
    ede_sign(xd, 2.0, 3.0).backward(grad.double())
    expected = 2.0 * 3.0 * (1 - torch.tanh(3.0 * x.double()) ** 2) * grad
    torch.testing.assert_close(xd.grad, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('isa', [i for i in ISA_PATHS if i != 'reference'])
def test_tanh_backward_is_zero_where_float32_tanh_is_one(monkeypatch, isa):
    """Beyond |t x| = 13 ln 2 float32's tanh(t x) is 1 and the PyTorch
    formula's factor 0; the native pass gives 0 there too (its exact tail
    below 6e-8 k t made subnormal gradients, which slow x86 float ops by
    10-100x), is nonzero just inside, and never returns a subnormal for a
    unit gradient; a NaN gradient stays NaN."""
    from mmbnn.ops import ede_sign
    cut = 13 * math.log(2)
    u = torch.cat([torch.linspace(8.5, 9.5, 401), torch.tensor(
        [20.0, 44.0, 48.0, 52.0, 100.0, 1e4])])
    force_isa(monkeypatch, isa)
    for k, t in ((1.0, 1.0), (1.0, 10.0), (10.0, 0.1)):
        x = torch.cat([u, -u]) / t
        leaf = x.clone().requires_grad_()
        ede_sign(leaf, k, t).backward(torch.ones_like(x))
        g = leaf.grad
        beyond = (t * x.double()).abs() > cut * (1 + 1e-6)
        inside = (t * x.double()).abs() < cut * (1 - 1e-6)
        assert torch.equal(g[beyond], torch.zeros_like(g[beyond]))
        assert (g[inside] > 0).all()
        assert not ((g != 0) & (g.abs() < torch.finfo(g.dtype).tiny)).any()
        # Where the PyTorch formula is 0, so is the native pass.
        monkeypatch.setenv('MMBNN_ISA', 'reference')
        ref = leaf.detach().clone().requires_grad_()
        ede_sign(ref, k, t).backward(torch.ones_like(x))
        assert torch.equal(g[ref.grad == 0], ref.grad[ref.grad == 0])
        force_isa(monkeypatch, isa)
    x = torch.tensor([50.0] * 9)
    grad = torch.full_like(x, float('nan'))
    assert native.native_tanh_sign_grad(x, grad, torch.tensor(1.0),
                                        torch.tensor(1.0)).isnan().all()


def test_the_header_and_the_entry_point_signatures_on_a_fresh_handle(
        monkeypatch):
    """Both are read once per process (at import, at the first load): here
    again, the header's values against what the library reports, and the
    signatures set on a new handle of the library, through which every
    entry point then computes what the cached one does."""
    import ctypes

    import torch.nn.functional as F

    from mmbnn.ops import xnor_conv
    header = native._read_header()
    assert header['ABI_VERSION'] == native.ABI_VERSION
    assert header['BLOCK'] == native.BLOCK
    assert {n[4:].lower(): c for n, c in header.items()
            if n.startswith('ISA_')} == native.ISA_CODES
    lib = native.library()
    if lib is None:
        pytest.skip('the native library is not built here')
    assert lib.mmbnn_abi_version() == header['ABI_VERSION']
    fresh = ctypes.CDLL(lib._name)
    native._signatures(fresh)
    for isa in native.ISAS:
        assert bool(fresh.mmbnn_isa_supported(native.ISA_CODES[isa])) == (
            isa in native.available_isas())
    isa = native.available_isas()[0]
    if isa == 'reference':
        pytest.skip('no native path runs on this CPU')
    assert fresh.mmbnn_peak(native.ISA_CODES[isa], 1, 0.001) > 0
    monkeypatch.setattr(native, 'library', lambda: fresh)
    monkeypatch.setattr(xnor_conv, 'library', lambda: fresh)
    monkeypatch.setenv('MMBNN_ISA', isa)
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(2, 70, 5, 5, generator=gen)
    w = torch.randn(8, 70, 3, 3, generator=gen)
    assert torch.equal(native.native_sign(x), signs(x))
    grad = torch.randn(2, 70, 5, 5, generator=gen)
    k, t = torch.tensor(2.0), torch.tensor(1.5)
    torch.testing.assert_close(
        native.native_tanh_sign_grad(x, grad, k, t),
        2.0 * 1.5 * (1 - torch.tanh(1.5 * x) ** 2) * grad,
        rtol=1e-5, atol=1e-5)
    y, _ = xnor_conv2d(x, packed_weight(w), (1, 1), (1, 1), isa=isa)
    assert torch.equal(y, F.conv2d(signs(x), signs(w), padding=1))
    assert torch.equal(xnor_conv.pack_activations(x, 2, isa),
                       xnor_conv.pack_activations(x, 2, 'reference'))


def test_the_library_builds_and_runs_where_a_compiler_is_installed():
    """With g++ and ninja present (the set-up installs both) the native
    library must build and report the paths this CPU's flags allow: a
    broken build would otherwise only show as skipped kernel tests."""
    import shutil
    import sys
    from os.path import dirname
    ninja = shutil.which('ninja') or shutil.which(
        'ninja', path=dirname(sys.executable))
    if shutil.which('g++') is None or ninja is None:
        pytest.skip('no C++ compiler or ninja here')
    assert native.library() is not None
    paths = native.available_isas()
    assert 'scalar' in paths and paths[-1] == 'reference'
    flags = native.cpu_info()['flags']
    if 'avx2' in flags:
        assert 'avx2' in paths
    if {'avx512f', 'avx512_vpopcntdq'} <= flags:
        assert 'avx512' in paths


def test_cpu_info_of_an_arm_board_and_of_an_unknown_machine(monkeypatch):
    """An ARM board's /proc/cpuinfo (``Hardware``, per-core ``Features``,
    cores that differ: their union), and a system without one."""
    import builtins
    import io
    import platform
    arm = ('processor\t: 0\nFeatures\t: fp asimd evtstrm crc32\n\n'
           'processor\t: 1\nFeatures\t: fp asimd asimddp\n\n'
           'Hardware\t: BCM2835\nRevision\t: c03112\n')
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if path == '/proc/cpuinfo':
            if text is None:
                raise FileNotFoundError(path)
            return io.StringIO(text)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, 'open', fake_open)
    text = arm
    info = native.cpu_info()
    assert info['cpu'] == 'BCM2835'
    assert info['flags'] == {'fp', 'asimd', 'evtstrm', 'crc32', 'asimddp'}
    text = None
    monkeypatch.setattr(platform, 'processor', lambda: '')
    assert native.cpu_info()['cpu'] == 'unknown'
    assert native.cpu_info()['flags'] == set()
    monkeypatch.setattr(platform, 'processor', lambda: 'arm')
    assert native.cpu_info()['cpu'] == 'arm'


def test_peak_probe_measures_every_native_path():
    from mmbnn.ops import native
    paths = [i for i in native.available_isas() if i != 'reference']
    assert paths
    for isa in paths:
        rates = native.peak_rates(isa, seconds=0.02)
        assert rates['xnor_bitmacs'] > 0, isa
        if isa == 'scalar':
            assert rates['fp32_macs'] is None
        else:
            assert rates['fp32_macs'] > 0, isa
    with pytest.raises(RuntimeError, match="'nope' is not available"):
        native.peak_rates('nope')


def test_peak_probe_on_several_threads_sums_their_rates():
    """The all-threads loop on one thread measures what the one-core probe
    does (same loop, same count of operations per iteration), and on two
    threads all of them together, at most twice one core's (generous
    bounds: the machine is shared); threads < 1 is refused."""
    from mmbnn.ops import native
    isa = [i for i in native.available_isas() if i != 'reference'][0]
    lib, code = native.library(), native.ISA_CODES[isa]
    one = lib.mmbnn_peak(code, 0, 0.02)
    alone = lib.mmbnn_peak_threads(code, 0, 0.02, 1)
    assert 0.5 * one < alone < 2 * one
    both = native.peak_rates(isa, seconds=0.02, threads=2)['xnor_bitmacs']
    assert 0.25 * one < both < 3 * one
    assert lib.mmbnn_peak_threads(code, 0, 0.02, 0) == -1
    with pytest.raises(ValueError, match='threads must be at least 1'):
        native.peak_rates(isa, threads=0)


def test_cpu_info_reads_model_and_flags():
    """Against a separate read of /proc/cpuinfo; the flags agree with the
    paths the library's own CPU check allows."""
    import os.path as osp
    import platform
    from mmbnn.ops import native
    info = native.cpu_info()
    assert info['arch'] == platform.machine()
    if not osp.exists('/proc/cpuinfo'):
        pytest.skip('no /proc/cpuinfo on this system')
    text = open('/proc/cpuinfo').read()
    names = re.findall(r'^(?:model name|Hardware)\s*:\s*(.+)$', text, re.M)
    if names:
        assert info['cpu'] == names[0].strip()
    paths = native.available_isas()
    if 'flags' in text:  # x86
        assert ('avx512' in paths) == ({'avx512f', 'avx512_vpopcntdq'} <= info['flags'])
        assert ('avx2' in paths) == ('avx2' in info['flags'])
