"""Evaluate a checkpoint (mmdet's command line; prints the metrics)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmengine.dist import is_main_process  # noqa: E402

import mmbnn.plugin  # noqa: E402,F401 (registration, compatibility fixes)
from mmbnn.apis import (add_common_args, build_runner,  # noqa: E402
                        exit_on_user_error, load_config)
from mmbnn.engine.train_steps import testing_config  # noqa: E402
from mmbnn.utils.checkpoint import check_checkpoint_file  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or a .mmbnn '
                        'file from tools/deploy/export.py (runs the binary '
                        'layers on the XNOR-popcount kernels)')
    parser.add_argument('--exact', action='store_true',
                        help='with a .mmbnn file: run each layer as PyTorch '
                        'does (no BN folding or fused blocks), bit for bit '
                        'the PyTorch model; slower')
    parser.add_argument('--int8', type=int, metavar='BATCHES', default=0,
                        help='with a .mmbnn file: run the full-precision '
                        'convs and linears (stem, shortcuts, heads) in int8 '
                        "on PyTorch's quantized CPU engine, calibrated on "
                        'the first BATCHES training batches')
    parser.add_argument('--work-dir', help='where the metrics file goes')
    parser.add_argument('--out', help='dump predictions to this .pkl file')
    parser.add_argument('--show', action='store_true',
                        help='show each image with its detections')
    parser.add_argument(
        '--show-dir', help='save images with drawn detections to '
        'WORK_DIR/TIMESTAMP/SHOW_DIR')
    parser.add_argument(
        '--show-score-thr', type=float, default=0.3,
        help='draw detections scoring at least this (mmdet: 0.3; a BNN '
        'trained briefly scores lower)')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each image is shown with --show')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.exact and not args.checkpoint.endswith('.mmbnn'):
        parser.error('--exact applies to .mmbnn files only')
    if args.int8 < 0 or args.int8 and not args.checkpoint.endswith('.mmbnn'):
        parser.error('--int8 takes a positive number of batches and applies '
                     'to .mmbnn files only')
    if args.int8 and args.exact:
        parser.error('--int8 and --exact exclude each other (--exact is bit '
                     'for bit the PyTorch model)')
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl file, got {args.out!r}')
    return args


def main(argv=None):
    args = parse_args(argv)
    # Fail before building the model (a .mmbnn file is read, and every CRC
    # checked, once: by the runner's load_checkpoint).
    if args.checkpoint.endswith('.mmbnn'):
        if not os.path.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'model file {args.checkpoint!r} does not exist')
    else:
        check_checkpoint_file(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.data_root, args.allow_mismatch)
    cfg.load_from = args.checkpoint
    cfg.xnor_fuse = not args.exact
    cfg.xnor_int8_batches = args.int8
    cfg = testing_config(cfg)  # a two-step config tests its last step's model
    if args.show or args.show_dir:
        from mmdet.engine.hooks.utils import trigger_visualization_hook
        cfg = trigger_visualization_hook(cfg, args)
        cfg.default_hooks.visualization.score_thr = args.show_score_thr

    runner = build_runner(cfg)
    if args.out is not None:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    # Every rank gets the metrics; the user reads them once.
    if is_main_process():
        for key, value in metrics.items():
            print(f'{key}: {value:.4f}' if isinstance(value, float) else
                  f'{key}: {value}')
        if args.show_dir:
            print('drawn detections:',
                  os.path.join(runner.log_dir, args.show_dir))
    return metrics


if __name__ == '__main__':
    exit_on_user_error(main)
