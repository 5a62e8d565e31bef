"""Loading a config as every tool does, and the options the tools share."""
import os.path as osp

from mmengine.config import Config

from mmbnn.engine.train_steps import check_train_steps
from mmbnn.utils.config import (check_top_level_keys, fix_dataloaders,
                                set_data_root)
from mmbnn.utils.dist import init_cpu_distributed

__all__ = ['add_common_args', 'load_config']


def add_common_args(parser) -> None:
    """Options tools/train.py and tools/test.py share (mmdet's names)."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.depth=34')
    parser.add_argument(
        '--data-root', help="replace the config's data_root (and paths under "
        'it) with this directory, e.g. data/VOCdevkit/')
    parser.add_argument(
        '--allow-mismatch', nargs='+', metavar='PATTERN', default=[],
        help='checkpoint keys allowed to be missing, unexpected or of another '
        "shape (fnmatch patterns, e.g. 'bbox_head.*'); any other mismatch "
        'between the checkpoint and the model is an error')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(path: str, cfg_options=None, work_dir=None,
                launcher: str = 'none', data_root=None,
                allow_mismatch=()) -> Config:
    """Load a config, apply ``--cfg-options`` and the checks every tool needs."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if allow_mismatch:
        cfg.allow_mismatched_keys = list(cfg.get('allow_mismatched_keys') or
                                         []) + list(allow_mismatch)
    if data_root is not None:
        set_data_root(cfg, data_root)
    cfg.launcher = launcher
    # work_dir priority: command line > config > configs' file name.
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    check_top_level_keys(cfg)
    if cfg.get('train_steps') is not None:  # None: one-step training
        check_train_steps(cfg.train_steps)
    fix_dataloaders(cfg)
    init_cpu_distributed(cfg)
    return cfg
