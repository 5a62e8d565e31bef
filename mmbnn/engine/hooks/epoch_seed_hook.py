"""Seeds every random source at the start of each epoch from (seed, epoch)."""
import functools
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmbnn.registry import HOOKS


def epoch_seed(seed: int, epoch: int, rank: int = 0, worker: int = -1) -> int:
    """A 32-bit seed for ``(seed, epoch, rank, worker)``, well mixed
    (``numpy.random.SeedSequence``) so neighbouring epochs are unrelated."""
    entropy = [seed, epoch, rank, worker + 1]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_all(value: int) -> None:
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)  # every device's generator


def _seed_worker(worker_id: int, seed: int, epoch: int, rank: int) -> None:
    seed_all(epoch_seed(seed, epoch, rank, worker_id))


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Makes each epoch's randomness (data augmentation, dropout) a function of
    ``(seed, epoch, rank)`` alone, so a run resumed from an epoch checkpoint
    replays the following epochs exactly, bit for bit on the CPU.

    mmengine seeds the RNGs once at start-up and does not save their state in
    checkpoints, so a resumed run draws different augmentations than the run
    it continues; its ``worker_init_fn`` also gives non-persistent data
    workers the same seed every epoch (the same augmentation each epoch).
    Before every training epoch this hook seeds Python's ``random``, NumPy and
    torch in the main process, and makes that epoch's data workers seed
    themselves from ``(seed, epoch, rank, worker_id)``.

    Persistent workers are started once and keep their RNG state across
    epochs, which a resumed run cannot restore; the hook refuses them (set
    ``persistent_workers=False`` or ``num_workers=0``).

    Args:
        seed (int, optional): Base seed; default: the runner's
            ``randomness.seed``.
    """
    priority = 'VERY_HIGH'

    def __init__(self, seed=None):
        self.seed = seed

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if loader.num_workers > 0 and loader.persistent_workers:
            raise ValueError(
                'EpochSeedHook cannot make epochs reproducible with persistent '
                'data workers (their RNG state outlives the epoch and is not '
                'in checkpoints): set train_dataloader.persistent_workers='
                'False or num_workers=0')
        if self.seed is None:
            self.seed = runner.seed
        if self.seed is None:
            raise ValueError('EpochSeedHook needs a seed: set randomness.seed '
                             'in the config or seed= in the hook')

    def before_train_epoch(self, runner) -> None:
        rank = get_rank()
        seed_all(epoch_seed(self.seed, runner.epoch, rank))
        loader = runner.train_dataloader
        if loader.num_workers > 0:
            # Workers are started when the epoch's iterator is created, after
            # this hook.
            loader.worker_init_fn = functools.partial(
                _seed_worker, seed=self.seed, epoch=runner.epoch, rank=rank)
