"""Checks and fixes of a loaded config (pure functions of the config; the
tools load configs through ``mmbnn.apis.load_config``)."""
import difflib
import functools
import inspect
import os.path as osp

from mmengine.config import Config

__all__ = ['runner_keys', 'check_top_level_keys', 'fix_dataloaders',
           'set_data_root']

# Top-level keys configs and tools set besides the Runner's arguments.
_OTHER_KEYS = ('runner_type', 'custom_imports', 'tta_model', 'tta_pipeline',
               'auto_scale_lr', 'find_unused_parameters', 'model_wrapper_cfg',
               'allow_mismatched_keys', 'train_steps', 'xnor_fuse')
# Helper names mmdet's own configs use at top level (never misspellings).
_HELPER_KEYS = ('train_pipeline', 'val_pipeline', 'test_pipeline',
                'dataset_type', 'data_root', 'backend_args', 'vis_backends')


@functools.lru_cache(maxsize=None)
def runner_keys() -> frozenset:
    """Top-level keys mmengine's Runner reads, plus ``_OTHER_KEYS``."""
    from mmengine.runner import Runner
    params = inspect.signature(Runner.__init__).parameters
    return frozenset(p for p in params if p != 'self') | set(_OTHER_KEYS)


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
