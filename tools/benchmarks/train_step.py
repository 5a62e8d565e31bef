"""Training-step cost of a binary detector against its full-precision twin,
of RBD distillation (teacher forward included), of the diagnostics hook
(FF counted every step, flushed every 10) and of DTE's stage 2 (its
distribution-sensitive bounds computed on every forward, docs/methods.md
1.2) against the plain binary step (stage 1), measured in one process on
the same batch (ratios; absolute times on a shared machine mean little).

    python tools/benchmarks/train_step.py [--binary CFG] [--fp CFG] [--steps 20]
"""
import argparse
import os
import sys
import tempfile
import time
import types

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from mmbnn.apis import init_model, load_config  # noqa: E402

DEMO = os.path.join(ROOT, 'configs', 'demo')


def build(path, batch_size):
    from mmdet.structures import DetDataSample
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    model = init_model(path).train()
    cfg = model.cfg
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    size = cfg.get('input_size', 300)
    samples = []
    for i in range(batch_size):
        s = DetDataSample(metainfo=dict(img_shape=(size, size),
                                        ori_shape=(size, size),
                                        pad_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        g = torch.Generator().manual_seed(i)
        xy = torch.rand(3, 2, generator=g) * size * 0.6
        wh = torch.rand(3, 2, generator=g) * size * 0.3 + 10
        s.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                      labels=torch.randint(0, 6, (3,), generator=g))
        samples.append(s)
    batch = dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8)
                         for _ in range(batch_size)], data_samples=samples)
    return model, optim, batch


def install_rbd(student, teacher, teacher_config, tmp):
    """RBDHook on ``student`` with ``teacher``'s weights, as before training."""
    from mmengine.logging import MMLogger

    from mmbnn.engine.hooks import RBDHook
    path = os.path.join(tmp, 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, path)
    hook = RBDHook(teacher_checkpoint=path, teacher_config=teacher_config)
    hook.before_train(types.SimpleNamespace(
        model=student, cfg=load_config(teacher_config),
        logger=MMLogger.get_current_instance()))
    return hook


def install_diagnostics(model):
    """BNNDiagnosticsHook on ``model``, as before training; returns a step
    function wrapping a training step in the hook's per-iteration work."""
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.visualization import Visualizer

    from mmbnn.engine.hooks import BNNDiagnosticsHook
    hook = BNNDiagnosticsHook(interval=10)
    runner = types.SimpleNamespace(
        model=model, hooks=[], iter=0, epoch=0,
        logger=MMLogger.get_instance('train_step'),
        message_hub=MessageHub.get_instance('train_step'),
        visualizer=Visualizer.get_instance('train_step'),
        train_dataloader=range(10 ** 6))
    hook.before_train(runner)

    def step(batch, optim):
        hook.before_train_iter(runner, runner.iter)
        model.train_step(batch, optim)
        hook.after_train_iter(runner, runner.iter)
        runner.iter += 1
    return step


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    import platform
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def enter_stage_two(model, t=10.0):
    """Every binary layer of ``model`` in DTE's stage 2 at ``t``, as the
    scheduler leaves them at the end of a run."""
    from mmbnn.models.layers import binary_layers
    for _, layer in binary_layers(model):
        layer.k.fill_(1.0)
        layer.t.fill_(t)
        layer.stage.fill_(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--binary', default=os.path.join(
        DEMO, 'bnn_ssd192_vgg16-w0.25_synthvoc.py'))
    parser.add_argument('--fp', default=os.path.join(
        DEMO, 'ssd192_vgg16-w0.25_fp_synthvoc.py'))
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=8)
    args = parser.parse_args(argv)
    runs = {name: build(path, args.batch_size)
            for name, path in (('fp', args.fp), ('binary', args.binary),
                               ('rbd', args.binary), ('diag', args.binary),
                               ('stage2', args.binary))}
    enter_stage_two(runs['stage2'][0])
    with tempfile.TemporaryDirectory() as tmp:
        install_rbd(runs['rbd'][0], runs['fp'][0], args.fp, tmp)
    steps = {name: model.train_step for name, (model, _, _) in runs.items()}
    steps['diag'] = install_diagnostics(runs['diag'][0])
    times = {name: [] for name in runs}
    for name, (model, optim, batch) in runs.items():  # warm-up
        steps[name](batch, optim)
    # Interleaved, so drifts of the machine's load hit all alike.
    for _ in range(args.steps):
        for name, (model, optim, batch) in runs.items():
            start = time.perf_counter()
            steps[name](batch, optim)
            times[name].append(time.perf_counter() - start)
    med = {n: sorted(t)[len(t) // 2] for n, t in times.items()}
    from mmbnn.ops import native
    print(f'CPU {cpu_model()}; instruction sets {", ".join(native.available_isas())}')
    print(f'batch {args.batch_size}, {args.steps} steps each, torch threads '
          f'{torch.get_num_threads()}')
    for name in runs:
        print(f'{name:>7}: median step {med[name] * 1000:.0f} ms')
    print(f'binary / fp step time: {med["binary"] / med["fp"]:.2f}x')
    print(f'binary + RBD / binary step time: {med["rbd"] / med["binary"]:.2f}x')
    print(f'binary + diagnostics / binary step time: '
          f'{med["diag"] / med["binary"]:.3f}x')
    print(f'binary, DTE stage 2 / stage 1 step time: '
          f'{med["stage2"] / med["binary"]:.3f}x')


if __name__ == '__main__':
    main()
