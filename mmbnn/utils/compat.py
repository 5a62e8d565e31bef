"""Fixes for known breakages of the pinned stack, applied when mmbnn is imported.

Each fix names the breakage it answers (docs/stack.md) and is idempotent.
"""
import os.path as osp

from .checkpoint import (CheckpointError, UnsafeCheckpointError,
                         allow_checkpoint_globals, read_checkpoint)
from .fileio import atomic_write_bytes

__all__ = ['CheckpointError', 'UnsafeCheckpointError', 'read_checkpoint',
           'apply_all', 'apply_engine_fixes', 'allow_checkpoint_globals']


def _register_checkpoint_loader():
    from mmengine.runner.checkpoint import CheckpointLoader

    def load_from_local(filename, map_location):
        return read_checkpoint(filename, map_location)

    # The local scheme serves load_from, --resume, tools/test.py and
    # mmengine's load_checkpoint alike.
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local,
                                     force=True)


def _fix_ssd_head_loss_cls():
    """mmdet 3.3.0: ``BaseDenseHead._predict_by_feat_single`` reads
    ``self.loss_cls``, which ``SSDHead`` never sets (it computes its
    cross-entropy inline), so SSD validation and testing crash. Expose the
    attribute as ``None`` unless a subclass registers a real loss module."""
    from mmdet.models.dense_heads import SSDHead
    if 'loss_cls' in vars(SSDHead):
        return
    SSDHead.loss_cls = property(lambda self: self._modules.get('loss_cls'))


def _write_checkpoints_atomically():
    """mmengine writes files (checkpoints included) in place: a run killed
    mid-write leaves a truncated file. Write through a temporary file and a
    rename instead."""
    from mmengine.fileio.backends import LocalBackend

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, str(filepath))

    LocalBackend.put = put


def _save_before_removing_old_checkpoints():
    """mmengine 0.10.7's ``CheckpointHook`` deletes the oldest kept checkpoint
    *before* writing the new one, then rewrites ``last_checkpoint`` in place:
    with ``max_keep_ckpts=1`` a run killed while saving has no checkpoint
    left. Save first, point ``last_checkpoint`` at it atomically, then
    rotate."""
    from mmengine.dist import is_main_process
    from mmengine.hooks import CheckpointHook

    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(self.last_ckpt.encode(),
                           osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed's checkpoints
                self.file_backend.rmtree(path)

    CheckpointHook._save_checkpoint_with_step = _save_checkpoint_with_step


_APPLIED = False


def apply_engine_fixes():
    """The fixes of mmengine (safe checkpoint loading, atomic writes, save
    before rotating): what a run needs that has mmengine but no mmdet (the
    device tier on a bare GPU machine)."""
    _register_checkpoint_loader()
    _write_checkpoints_atomically()
    _save_before_removing_old_checkpoints()


def apply_all():
    """Every fix: mmengine's and mmdet's (``mmbnn.plugin`` calls it)."""
    global _APPLIED
    if _APPLIED:
        return
    apply_engine_fixes()
    _fix_ssd_head_loss_cls()
    _APPLIED = True
