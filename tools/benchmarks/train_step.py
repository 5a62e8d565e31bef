"""Training-step cost of a binary detector against its full-precision twin,
and of RBD distillation (teacher forward included) against the plain binary
step, measured in one process on the same batch (ratios; absolute times on a
shared machine mean little).

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
from mmbnn.utils.config import load_config  # noqa: E402

DEMO = os.path.join(ROOT, 'configs', 'demo')


def build(path, batch_size):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    cfg = load_config(path)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
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
                               ('rbd', args.binary))}
    with tempfile.TemporaryDirectory() as tmp:
        install_rbd(runs['rbd'][0], runs['fp'][0], args.fp, tmp)
    times = {name: [] for name in runs}
    for name, (model, optim, batch) in runs.items():  # warm-up
        model.train_step(batch, optim)
    # Interleaved, so drifts of the machine's load hit both alike.
    for _ in range(args.steps):
        for name, (model, optim, batch) in runs.items():
            start = time.perf_counter()
            model.train_step(batch, optim)
            times[name].append(time.perf_counter() - start)
    med = {n: sorted(t)[len(t) // 2] for n, t in times.items()}
    print(f'batch {args.batch_size}, {args.steps} steps each, torch threads '
          f'{torch.get_num_threads()}')
    for name in runs:
        print(f'{name:>7}: median step {med[name] * 1000:.0f} ms')
    print(f'binary / fp step time: {med["binary"] / med["fp"]:.2f}x')
    print(f'binary + RBD / binary step time: {med["rbd"] / med["binary"]:.2f}x')


if __name__ == '__main__':
    main()
