"""Config preparation shared by tools/train.py and tools/test.py."""
import difflib
import functools
import inspect
import os.path as osp

from mmengine.config import Config

# Top-level keys configs and tools set besides the Runner's arguments.
_OTHER_KEYS = ('runner_type', 'custom_imports', 'tta_model', 'tta_pipeline',
               'auto_scale_lr', 'find_unused_parameters', 'model_wrapper_cfg',
               'allow_mismatched_keys', 'train_steps')
# Helper names mmdet's own configs use at top level (never misspellings).
_HELPER_KEYS = ('train_pipeline', 'val_pipeline', 'test_pipeline',
                'dataset_type', 'data_root', 'backend_args', 'vis_backends')


@functools.lru_cache(maxsize=None)
def runner_keys() -> frozenset:
    """Top-level keys mmengine's Runner reads, plus ``_OTHER_KEYS``."""
    from mmengine.runner import Runner
    params = inspect.signature(Runner.__init__).parameters
    return frozenset(p for p in params if p != 'self') | set(_OTHER_KEYS)


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


def check_top_level_keys(cfg: Config) -> None:
    """Refuse a top-level key that is a misspelling of one the Runner reads.

    The Runner ignores top-level keys it does not know, and configs use free
    top-level names for helpers (``input_size``, ``train_pipeline``), so only
    near misses of the Runner's own keys (``trian_cfg``) can be caught.
    """
    known = runner_keys()
    for key in cfg.keys():
        if key in known or key in _HELPER_KEYS or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            raise KeyError(f'config key {key!r} is not read by the Runner; did '
                           f'you mean {close[0]!r}?')


def fix_dataloaders(cfg: Config) -> None:
    """``persistent_workers=True`` needs worker processes (stack.md, item 5)."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader and not loader.get('num_workers', 0) and loader.get(
                'persistent_workers', False):
            loader['persistent_workers'] = False


def set_data_root(cfg: Config, root: str) -> None:
    """Point every ``data_root`` (and any ``ann_file`` or ``classes`` file
    under it, such as CocoMetric's) that starts with the config's top-level
    ``data_root`` at ``root``: the one switch between generated and real data."""
    old = cfg.get('data_root')
    if not old:
        raise KeyError('--data-root needs a top-level `data_root` in the config '
                       'to replace')

    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ('data_root', 'ann_file', 'classes') and isinstance(
                        value, str) and value.startswith(old):
                    node[key] = osp.join(root, value[len(old):])
                else:
                    visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    cfg.data_root = root
    for key in cfg.keys():
        visit(cfg[key])


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
        from mmbnn.engine.steps import check_train_steps
        check_train_steps(cfg.train_steps)
    fix_dataloaders(cfg)
    from .dist import init_cpu_distributed
    init_cpu_distributed(cfg)
    return cfg


def build_runner(cfg: Config):
    """The config's ``runner_type``, or mmbnn's ``CheckedRunner`` (mmengine's
    Runner that refuses checkpoints which do not fit the model)."""
    from mmengine.registry import RUNNERS

    from mmbnn.engine import CheckedRunner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else \
        CheckedRunner.from_cfg(cfg)


def exit_on_user_error(main):
    """Run a tool's ``main``; a bad checkpoint or config path ends it with one
    line on stderr (exit status 1) instead of a traceback. A distributed run's
    process group is closed before the tool returns (see
    :func:`~mmbnn.utils.dist.close_distributed`)."""
    import sys

    from .checkpoint import CheckpointError
    from .dist import close_distributed
    try:
        result = main()
    except (CheckpointError, FileNotFoundError) as err:
        close_distributed(barrier=False)
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(1) from None
    except BaseException:
        close_distributed(barrier=False)
        raise
    close_distributed()
    return result
