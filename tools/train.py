"""Train a detector (mmdet's command line; mmbnn modules and fixes loaded)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mmbnn.plugin  # noqa: E402,F401 (registration, compatibility fixes)
from mmbnn.apis import (add_common_args, build_runner,  # noqa: E402
                        exit_on_user_error, load_config, train_in_steps)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a path from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--train-step', type=int, metavar='N',
        help="run only step N of the config's train_steps (two-step training)")
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.data_root, args.allow_mismatch)
    if args.amp:
        from mmengine.device import get_device
        if get_device() == 'cpu':
            raise SystemExit('--amp needs a GPU (or NPU/MLU/MUSA): mmengine\'s '
                             'AmpOptimWrapper does not run on the CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError('--auto-scale-lr needs auto_scale_lr.base_batch_size '
                           'in the config')
        cfg.auto_scale_lr.enable = True
    if cfg.get('train_steps'):
        if args.resume not in (None, 'auto'):
            raise SystemExit('a config with train_steps resumes each step from '
                             'its own work directory: use --resume without a '
                             'path')
        train_in_steps(cfg, resume=args.resume == 'auto',
                       only_step=args.train_step)
        return
    if args.train_step is not None:
        raise SystemExit('--train-step needs a config with train_steps')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume

    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    exit_on_user_error(main)
