"""tools/benchmarks: the runtime benchmark's JSON (its machine probe is
tested with mmbnn/ops/native.py, tests/test_ops/test_native.py), and the
training-step benchmark's classifier mode. What is checked is that every
figure exists and is positive and the lines parse, not their values (a
benchmark is not a test of speed)."""
import json
import os.path as osp
import re
import sys
import time

import pytest

from conftest import ROOT, tool


def test_runtime_benchmark_reports_ceilings_fractions_and_int8(tmp_path):
    out = tmp_path / 'bench.json'
    result = tool('benchmarks/runtime.py', '--quick', '--runs', '1', '--json',
                  str(out), timeout=900)
    figures = json.loads(out.read_text())
    info = figures['machine']
    assert info['cpu'] and info['arch'] and isinstance(info['flags'], list)
    assert set(figures['isas']) <= set(info['ceilings'])
    for isa in figures['isas']:
        assert info['ceilings'][isa]['xnor_bitmacs'] > 0
    assert len(figures['layers']) == 7
    for row in figures['layers']:
        for isa, v in row['by_isa'].items():
            for key in ('binary_ms', 'speedup_fp32', 'speedup_int8',
                        'gbitmacs', 'ceiling_fraction', 'packed_input_ms',
                        'ceiling_fraction_packed_input'):
                assert v[key] > 0, (row['shape'], isa, key)
    r18 = figures['threads']['1']['resnet18']
    for key in ('fp32_ms', 'int8_ms', 'binary_ms', 'speedup', 'speedup_int8',
                'binary_int8_fp_layers_ms', 'speedup_int8_fp_layers',
                'speedup_int8_fp_layers_vs_int8', 'binary_int8_frozen_ms',
                'speedup_int8_frozen_vs_int8'):
        assert r18[key] > 0, key
    for key in ('breakdown_ms', 'breakdown_int8_fp_layers_ms'):
        parts = r18[key]
        assert set(parts) == {'FP stem', 'binary convs',
                              'binary block overhead', 'FP shortcuts',
                              'FP neck', 'FP head', 'rest'}, key
        # (int8 shortcuts run inside their stages' calls: 0 apart)
        assert all(parts[p] > 0 for p in parts if p != 'rest' and not (
            p == 'FP shortcuts' and key == 'breakdown_int8_fp_layers_ms')), key
        # The parts are disjoint windows of each timed forward, so what is
        # left of it ('rest') is not negative: no time is counted twice.
        # (Not compared with the separately timed forward: one sample
        # against another, on a loaded machine, can differ by more than any
        # fixed tolerance.)
        assert parts['rest'] >= -1e-6, key
    for key in ('fp32_ms', 'int8_ms', 'binary_int8_fp_layers_ms',
                'speedup_int8_fp_layers', 'speedup_int8_fp_layers_vs_int8'):
        assert r18['after_switch'][key] > 0, key
    assert figures['resnet18_speedup_int8_1thread'] == r18['speedup_int8']
    assert 'ceilings per core' in result.stdout
    assert 'init_weights' not in result.stdout + result.stderr


def _runtime_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'runtime_bench', osp.join(ROOT, 'tools', 'benchmarks', 'runtime.py'))
    runtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime)
    return runtime


def test_runtime_benchmark_avx2_only_runs_with_every_library_on_avx2(
        monkeypatch):
    """``--avx2-only`` runs the benchmark again, with its own arguments, in
    a child process with ``AVX2_ONLY``'s variables set; in such a process
    PyTorch's ATen kernels and this library's path are AVX2."""
    import subprocess

    from mmbnn.ops import native
    if 'avx2' not in native.available_isas():
        pytest.skip('this CPU has no AVX2 path')
    runtime = _runtime_module()
    calls = []
    monkeypatch.setattr(subprocess, 'call',
                        lambda cmd, env: calls.append((cmd, env)) or 3)
    for key in runtime.AVX2_ONLY:
        monkeypatch.delenv(key, raising=False)
    args = ['--avx2-only', '--quick', '--runs', '2']
    assert runtime.main(args) == 3  # (the child's exit status)
    (cmd, env), = calls
    assert cmd[1:] == [osp.join(ROOT, 'tools', 'benchmarks', 'runtime.py'),
                       *args]
    assert {k: env[k] for k in runtime.AVX2_ONLY} == {
        'MMBNN_ISA': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2',
        'FBGEMM_ENABLE_INSTRUCTIONS': 'AVX2', 'ATEN_CPU_CAPABILITY': 'avx2'}
    child = subprocess.run(
        [sys.executable, '-c', 'import torch; from mmbnn.ops.native import '
         'select_isa; print(torch.backends.cpu.get_cpu_capability(), '
         'select_isa())'], env=env, cwd=ROOT, capture_output=True, text=True)
    assert child.stdout.split()[-2:] == ['AVX2', 'avx2'], child.stderr


def test_runtime_benchmark_times_each_function_in_its_steady_state():
    """A function that is slow only right after another one ran (its
    caches evicted, here a 30 ms sleep) is timed at its steady state, the
    second of two calls in a row; its first calls' median goes to
    ``after_switch``. Timing every call right after the others (the old
    interleaving) would give 30 ms for both."""
    runtime = _runtime_module()
    last = []

    def make(name):
        def fn():
            if last and last[-1] != name:
                time.sleep(0.03)
            last.append(name)
        return fn

    cold = {}
    warm = runtime.medians(dict(a=make('a'), b=make('b')), 5, cold)
    assert set(warm) == set(cold) == {'a', 'b'}
    assert all(warm[k] < 0.015 for k in warm), warm
    assert all(cold[k] >= 0.03 for k in cold), cold
    assert len(last) == 2 * 2 * 5  # each function twice a round


def test_runtime_benchmark_measures_the_ceilings_of_all_cores_together():
    """With several cores the machine probe also measures every path's
    loops on all of them at once: positive, for the same paths as the
    per-core ceilings; one core: no such entry."""
    runtime = _runtime_module()
    info = runtime.machine(cores=2)
    assert set(info['ceilings_all_cores']) == set(info['ceilings'])
    for isa, rates in info['ceilings_all_cores'].items():
        assert rates['xnor_bitmacs'] > 0, isa
    assert 'ceilings_all_cores' not in runtime.machine(cores=1)


def test_runtime_benchmark_times_thread_scaling_interleaved():
    """The many-thread figure: each model's one- and two-thread calls
    alternate in one loop (a copy of the binary models a thread count);
    the ratios exist and are positive, and the thread count is left as
    the many-thread one."""
    import torch
    runtime = _runtime_module()
    before = torch.get_num_threads()
    try:
        scaling = runtime.thread_scaling(1, 2)
        assert set(scaling) == {'binary', 'binary_int8', 'frozen', 'int8'}
        assert all(v > 0 for v in scaling.values()), scaling
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_train_step_classifier_mode_prints_both_ratios():
    result = tool('benchmarks/train_step.py', '--task', 'classifier',
                  '--steps', '1', '--batch-size', '2', timeout=900)
    lines = [l for l in result.stdout.splitlines() if 'binary / FP' in l]
    assert [l.split(' (')[0] for l in lines] == ['demo VGG16-w0.25',
                                                   'ResNet-18']
    for line in lines:
        ratios = re.findall(r'([\d.]+)x', line)
        assert len(ratios) == 2 and all(float(r) > 0 for r in ratios), line
    assert result.stdout.startswith('CPU ')


def test_train_step_faster_rcnn_mode_prints_every_step_and_ratio():
    """The four Faster R-CNN steps (FP with mmbnn's and with mmcv's
    RoIAlign, binary in stage 1 and 2) each get a positive median, and
    the two ratio lines parse."""
    result = tool('benchmarks/train_step.py', '--task', 'faster-rcnn',
                  '--steps', '1', '--batch-size', '1', timeout=900)
    out = result.stdout
    steps = dict(re.findall(r'^\s*(\w+): median step (\d+) ms$', out, re.M))
    assert set(steps) == {'fp', 'fp_mmcv', 'binary', 'stage2'}, out
    assert all(int(v) > 0 for v in steps.values())
    ratios = re.findall(r'([\d.]+)x', out.split('median)')[1])
    assert len(ratios) == 3 and all(float(r) > 0 for r in ratios), out
    assert "mmcv's RoIAlign / with mmbnn's" in out


def test_train_step_refuses_configs_its_task_would_not_use():
    """--binary / --fp choose the detector task's configs; with another
    task they would be ignored, so the tool says so instead."""
    for task in ('faster-rcnn', 'classifier'):
        result = tool('benchmarks/train_step.py', '--task', task, '--fp',
                      'configs/demo/ssd192_vgg16-w0.25_fp_synthvoc.py',
                      check=False)
        assert result.returncode == 2, result.stderr
        assert f'--task {task} times its own' in result.stderr
