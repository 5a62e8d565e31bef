"""Training-step cost of binary networks against their full-precision twins,
measured in one process on the same batch, interleaved (ratios; absolute
times on a shared machine mean little).

``--task detector`` (the default, CPU): the demo SSD, binary against FP, of
RBD distillation (teacher forward included), of the diagnostics hook (FF
counted every step, flushed every 10) and of DTE's stage 2 (its
distribution-sensitive bounds computed on every forward, docs/methods.md
1.2) against the plain binary step (stage 1).

``--task faster-rcnn`` (CPU): the demo-size Faster R-CNN (Bi-Real ResNet-18
+ FPN, 320 px), binary (stage 1 and stage 2) against its FP twin, and the
FP twin with mmcv's RoIAlign (mmdet's ``SingleRoIExtractor``) against mmbnn's
native one (``FastSingleRoIExtractor``, the demo configs'), at
``--batch-size`` (default 4, the configs').

``--task classifier``: the demo classifier (VGG16-w0.25, 64 px) and
ResNet-18 (Bi-Real, 224 px), binary (stage 1 and stage 2) against FP, at
``--batch-size`` (default 64), on ``--device`` (``cuda`` on a GPU). It
needs mmengine, mmcv's Python part and mmpretrain only (no mmdet, no
compiled mmcv op), so it runs on a bare GPU machine
(tools/misc/device_tier.sh).

    python tools/benchmarks/train_step.py [--binary CFG] [--fp CFG] [--steps 20]
    python tools/benchmarks/train_step.py --task faster-rcnn [--steps 6]
    python tools/benchmarks/train_step.py --task classifier --device cuda
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
IMAGENET = os.path.join(ROOT, 'configs', 'imagenet')
# (name, binary config, FP config, input size) of --task classifier.
CLASSIFIERS = [
    ('demo VGG16-w0.25', os.path.join(DEMO, 'bnn_vgg16-w0.25_synthimagenet.py'),
     os.path.join(DEMO, 'vgg16-w0.25_fp_synthimagenet.py'), 64),
    ('ResNet-18', os.path.join(IMAGENET, 'bnn_resnet18-bireal_8xb32_in1k.py'),
     os.path.join(IMAGENET, 'resnet18-bireal_fp_8xb32_in1k.py'), 224),
]
# --task faster-rcnn: the demo-size binary Faster R-CNN and its FP twin.
FRCNN_BNN = os.path.join(DEMO, 'bnn_faster-rcnn_r18-bireal_fpn_synthcoco.py')
FRCNN_FP = os.path.join(DEMO, 'faster-rcnn_r18-bireal_fpn_fp_synthcoco.py')


def build(path, batch_size, size=None, cfg_options=None):
    """A detector of ``path`` in training mode, its optimizer wrapper and a
    batch of ``size`` px random images, three random boxes each (``size``:
    the config's ``input_size``, else 300)."""
    from mmdet.structures import DetDataSample
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    model = init_model(path, cfg_options=cfg_options).train()
    cfg = model.cfg
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    size = size or cfg.get('input_size', 300)
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


def build_classifier(path, size, batch_size, device):
    """A classifier of ``path`` in training mode on ``device``, its
    optimizer wrapper and a batch of random images with labels. The
    config's plug-in line is not run (it would import mmdet); the
    registration comes from importing mmbnn's models and hooks."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.structures import DataSample

    import mmbnn.engine  # noqa: F401 (registration)
    import mmbnn.models  # noqa: F401
    torch.manual_seed(0)
    cfg = Config.fromfile(path, import_custom_modules=False)
    model = init_model(cfg, device=device).train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    gen = torch.Generator().manual_seed(0)
    classes = cfg.model.head.num_classes
    batch = dict(inputs=[torch.randint(0, 256, (3, size, size), generator=gen,
                                       dtype=torch.uint8)
                         for _ in range(batch_size)],
                 data_samples=[DataSample().set_gt_label(i % classes)
                               for i in range(batch_size)])
    return model, optim, batch


def timed(step, device):
    """Seconds one call of ``step`` takes, the device's queue drained
    before and after (CUDA runs asynchronously)."""
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    sync()
    start = time.perf_counter()
    step()
    sync()
    return time.perf_counter() - start


def device_line(device) -> str:
    if device.startswith('cuda'):
        return (f'GPU {torch.cuda.get_device_name(device)}, torch '
                f'{torch.__version__}, CUDA {torch.version.cuda}, TF32 convs '
                f'{torch.backends.cudnn.allow_tf32}')
    from mmbnn.ops import native
    return (f'CPU {native.cpu_info()["cpu"]}; instruction sets '
            f'{", ".join(native.available_isas())}; torch threads '
            f'{torch.get_num_threads()}')


def profile_step(run, device, rows, title):
    """The ``rows`` ops taking the most self time (the device's where it
    is a GPU) in one training step, with their call counts."""
    from torch.profiler import ProfilerActivity, profile
    model, optim, batch = run
    activities = [ProfilerActivity.CPU]
    if device.startswith('cuda'):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        timed(lambda: model.train_step(batch, optim), device)
    key = ('self_device_time_total' if device.startswith('cuda')
           else 'self_cpu_time_total')
    print(f'--- {title}: top {rows} ops by {key}')
    print(prof.key_averages().table(sort_by=key, row_limit=rows))


def classifier_main(args):
    print(device_line(args.device))
    print(f'batch {args.batch_size}, {args.steps} steps each (median)')
    results = {}
    for name, binary, fp, size in CLASSIFIERS:
        runs = {kind: build_classifier(path, size, args.batch_size,
                                       args.device)
                for kind, path in (('fp', fp), ('binary', binary),
                                   ('stage2', binary))}
        enter_stage_two(runs['stage2'][0])
        # two warm-up steps: cuDNN chooses its algorithms on the first
        med = interleaved_medians(train_steps(runs), args.steps, args.device,
                                  warmup=2)
        results[name] = med
        if args.profile:
            profile_step(runs['stage2'], args.device, args.profile,
                         f'{name}, binary, stage 2')
        print(f'{name} ({size} px): FP {med["fp"] * 1000:.1f} ms, binary '
              f'{med["binary"] * 1000:.1f} ms (stage 2 '
              f'{med["stage2"] * 1000:.1f} ms); binary / FP step time '
              f'{med["binary"] / med["fp"]:.2f}x, stage 2 / FP '
              f'{med["stage2"] / med["fp"]:.2f}x')
        del runs
    return results


def train_steps(runs):
    """``{name: step}``: one training step of each ``(model, optim,
    batch)`` of ``runs``."""
    return {name: (lambda m=model, o=optim, b=batch: m.train_step(b, o))
            for name, (model, optim, batch) in runs.items()}


def interleaved_medians(steps, count, device='cpu', warmup=1):
    """Median seconds of each function of ``steps`` (``{name: step}``) over
    ``count`` calls after ``warmup``, the functions taking turns, so that
    drifts of the machine's load hit all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(count):
        for name, step in steps.items():
            times[name].append(timed(step, device))
    return {n: sorted(t)[len(t) // 2] for n, t in times.items()}


def faster_rcnn_main(args):
    """FP twin (native RoIAlign), FP twin with mmcv's RoIAlign, binary in
    stage 1 and in stage 2: median step times and their ratios."""
    # From random weights (no pretrained backbone file needed).
    scratch = {'model.backbone.init_cfg': None}
    mmcv_roi = dict(scratch, **{
        'model.roi_head.bbox_roi_extractor.type': 'SingleRoIExtractor'})
    runs = dict(fp=build(FRCNN_FP, args.batch_size, 320, scratch),
                fp_mmcv=build(FRCNN_FP, args.batch_size, 320, mmcv_roi),
                binary=build(FRCNN_BNN, args.batch_size, 320),
                stage2=build(FRCNN_BNN, args.batch_size, 320))
    enter_stage_two(runs['stage2'][0], t=5.0)
    med = interleaved_medians(train_steps(runs), args.steps)
    print(device_line('cpu'))
    print(f'Faster R-CNN (Bi-Real ResNet-18 + FPN, 320 px), batch '
          f'{args.batch_size}, {args.steps} steps each (median)')
    for name in runs:
        print(f'{name:>7}: median step {med[name] * 1000:.0f} ms')
    print(f'binary / fp step time: {med["binary"] / med["fp"]:.2f}x, '
          f'stage 2 / fp {med["stage2"] / med["fp"]:.2f}x')
    print(f"fp with mmcv's RoIAlign / with mmbnn's: "
          f'{med["fp_mmcv"] / med["fp"]:.2f}x')
    return med


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
    parser.add_argument('--binary', help='--task detector: the binary config '
                        '(default: the demo BNN SSD)')
    parser.add_argument('--fp', help='--task detector: its FP twin (default: '
                        'the demo FP SSD)')
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--batch-size', type=int,
                        help='default 8 (detector), 4 (faster-rcnn), 64 '
                        '(classifier)')
    parser.add_argument('--task', choices=['detector', 'faster-rcnn',
                                           'classifier'],
                        default='detector')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' or 'cuda' (--task classifier)")
    parser.add_argument('--profile', type=int, default=0, metavar='ROWS',
                        help='--task classifier: after timing, the ROWS ops '
                        'taking the most time in one binary step')
    args = parser.parse_args(argv)
    if args.task != 'detector' and (args.binary or args.fp):
        parser.error(f'--binary and --fp choose the configs of --task '
                     f'detector; --task {args.task} times its own')
    args.binary = args.binary or os.path.join(
        DEMO, 'bnn_ssd192_vgg16-w0.25_synthvoc.py')
    args.fp = args.fp or os.path.join(DEMO, 'ssd192_vgg16-w0.25_fp_synthvoc.py')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda: PyTorch sees no CUDA device here')
    if args.task == 'classifier':
        args.batch_size = args.batch_size or 64
        return classifier_main(args)
    if args.device != 'cpu':
        parser.error(f'--task {args.task} runs on the CPU (the demo detectors '
                     "need mmcv's compiled ops); use --task classifier on a "
                     'GPU')
    if args.task == 'faster-rcnn':
        args.batch_size = args.batch_size or 4
        return faster_rcnn_main(args)
    args.batch_size = args.batch_size or 8
    runs = {name: build(path, args.batch_size)
            for name, path in (('fp', args.fp), ('binary', args.binary),
                               ('rbd', args.binary), ('diag', args.binary),
                               ('stage2', args.binary))}
    enter_stage_two(runs['stage2'][0])
    with tempfile.TemporaryDirectory() as tmp:
        install_rbd(runs['rbd'][0], runs['fp'][0], args.fp, tmp)
    steps = train_steps(runs)
    diag_step = install_diagnostics(runs['diag'][0])
    _, diag_optim, diag_batch = runs['diag']
    steps['diag'] = lambda: diag_step(diag_batch, diag_optim)
    med = interleaved_medians(steps, args.steps)
    print(device_line('cpu'))
    print(f'batch {args.batch_size}, {args.steps} steps each')
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
