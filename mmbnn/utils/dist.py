"""Distributed runs: CPU-only start-up (PyTorch DDP over gloo), tear-down,
and the model inside a DDP wrapper."""
import datetime
import gc
import os

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 600


def init_cpu_distributed(cfg) -> bool:
    """Start the gloo process group for a ``--launcher pytorch`` run on CPU.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and its
    Runner wraps the model with ``device_ids=[LOCAL_RANK]``; both fail without
    a GPU. When no GPU is visible this starts the process group itself (the
    Runner then skips its own initialisation) and makes DDP wrap a CPU module.
    Collectives time out after ``env_cfg.dist_cfg.timeout`` seconds
    (default ``DEFAULT_TIMEOUT_S``). Returns whether it did anything; with a
    GPU, mmengine's path is used.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher != 'pytorch':
        raise ValueError(f'launcher {cfg.launcher!r} needs GPUs; on CPU use '
                         "--launcher pytorch (torchrun, gloo backend)")
    if not dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise RuntimeError(f'--launcher pytorch expects {missing} in the '
                               'environment; start it with tools/dist_train.sh '
                               '(torchrun)')
        # A peer lost without torchrun's agent noticing (e.g. a whole node)
        # ends a collective after this timeout, not gloo's 30 minutes.
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get(
            'timeout', DEFAULT_TIMEOUT_S)
        dist.init_process_group(backend='gloo',
                                timeout=datetime.timedelta(seconds=timeout))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    # Explicit None: the Runner would default device_ids to [LOCAL_RANK].
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def close_distributed(barrier: bool = True) -> None:
    """Tear the default process group down before the interpreter exits.

    Without it, gloo's worker threads can outlive the Python objects they
    hold, and a rank that has finished its work dies at exit with SIGABRT
    ("terminate called without an active exception"), which torchrun reports
    as a failed run. ``barrier`` first waits for the other ranks, so no rank
    closes its connections while a peer still talks to it; pass False when
    leaving on an error (a peer may be gone).
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if barrier:
            dist.barrier()
    finally:
        # A tool's runner is freed by the cycle collector only (its loops
        # and hooks refer back to it), and its DDP wrapper's reducer holds
        # the process group: left to the interpreter's finalization, the
        # group's gloo threads are torn down there, where they can abort the
        # same way. Free such garbage while the interpreter is whole.
        gc.collect()
        dist.destroy_process_group()


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP (or other mmengine) wrapper, else ``model``."""
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model
