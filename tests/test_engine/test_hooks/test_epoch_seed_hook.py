"""mmbnn/engine/hooks/epoch_seed_hook.py: every epoch's randomness is a
function of (seed, epoch, rank, worker)."""
import random
import types

import numpy as np
import pytest
import torch

from mmbnn.engine.hooks import EpochSeedHook


def _seed_runner(epoch=0, seed=7, num_workers=0, persistent=False):
    loader = types.SimpleNamespace(num_workers=num_workers,
                                   persistent_workers=persistent,
                                   worker_init_fn=None)
    return types.SimpleNamespace(train_dataloader=loader, seed=seed,
                                 epoch=epoch)


def _draws():
    return (random.random(), float(np.random.rand()), torch.rand(()).item())


def _after_hook(runner, hook=None):
    hook = hook or EpochSeedHook()
    hook.before_train(runner)
    random.seed(123)  # whatever came before must not matter
    np.random.seed(123)
    torch.manual_seed(123)
    hook.before_train_epoch(runner)
    return _draws()


def test_epoch_seed_hook_makes_each_epoch_a_function_of_seed_and_epoch():
    first = _after_hook(_seed_runner(epoch=3))
    assert _after_hook(_seed_runner(epoch=3)) == first  # replayed exactly
    assert len(set(first)) == 3  # three generators, three seeded streams
    others = [_after_hook(_seed_runner(epoch=4)), _after_hook(_seed_runner(seed=8)),
              _after_hook(_seed_runner(epoch=3), EpochSeedHook(seed=9))]
    for other in others:
        assert all(a != b for a, b in zip(first, other))
    # seed= overrides the runner's seed; the runner's is the default.
    assert _after_hook(_seed_runner(seed=9, epoch=3)) == others[2]


def test_epoch_seed_hook_seeds_data_workers_per_epoch_and_worker():
    hook = EpochSeedHook()
    runner = _seed_runner(epoch=2, num_workers=2)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    init = runner.train_dataloader.worker_init_fn
    init(0)
    w0 = _draws()
    init(1)
    w1 = _draws()
    init(0)
    assert _draws() == w0 and w0 != w1
    runner.epoch = 3
    hook.before_train_epoch(runner)
    runner.train_dataloader.worker_init_fn(0)
    assert _draws() != w0


def test_epoch_seed_hook_refuses_what_it_cannot_replay():
    with pytest.raises(ValueError, match='persistent'):
        EpochSeedHook().before_train(_seed_runner(num_workers=2, persistent=True))
    EpochSeedHook().before_train(_seed_runner(num_workers=0, persistent=True))
    with pytest.raises(ValueError, match='needs a seed'):
        EpochSeedHook().before_train(_seed_runner(seed=None))


def test_epoch_seed_hook_gives_each_rank_and_single_worker_its_own_stream(
        monkeypatch):
    import mmbnn.engine.hooks.epoch_seed_hook as module
    draws = {}
    for rank in (0, 1):
        monkeypatch.setattr(module, 'get_rank', lambda rank=rank: rank)
        runner = _seed_runner(epoch=2, num_workers=1)
        main = _after_hook(runner)
        runner.train_dataloader.worker_init_fn(0)  # one worker is a worker
        draws[rank] = (main, _draws())
    assert all(a != b for a, b in zip(draws[0][0], draws[1][0]))
    assert all(a != b for a, b in zip(draws[0][1], draws[1][1]))
    assert all(a != b for a, b in zip(draws[0][0], draws[0][1]))
    # The base seed reaches the workers too.
    monkeypatch.setattr(module, 'get_rank', lambda: 0)
    runner = _seed_runner(epoch=2, num_workers=1, seed=8)
    _after_hook(runner)
    runner.train_dataloader.worker_init_fn(0)
    assert all(a != b for a, b in zip(_draws(), draws[0][1]))
    # The documented defaults: rank 0, the main process (worker -1).
    assert module.epoch_seed(7, 3) == module.epoch_seed(7, 3, rank=0, worker=-1)
    # No data workers: nothing to seed in them, the loader is left alone.
    runner = _seed_runner(num_workers=0)
    _after_hook(runner)
    assert runner.train_dataloader.worker_init_fn is None


def test_epoch_seed_hook_errors_in_full():
    with pytest.raises(ValueError) as e:
        EpochSeedHook().before_train(_seed_runner(num_workers=1, persistent=True))
    assert e.value.args[0] == (
        'EpochSeedHook cannot make epochs reproducible with persistent data '
        'workers (their RNG state outlives the epoch and is not in '
        'checkpoints): set train_dataloader.persistent_workers=False or '
        'num_workers=0')
    with pytest.raises(ValueError) as e:
        EpochSeedHook().before_train(_seed_runner(seed=None))
    assert e.value.args[0] == ('EpochSeedHook needs a seed: set randomness.seed '
                               'in the config or seed= in the hook')
