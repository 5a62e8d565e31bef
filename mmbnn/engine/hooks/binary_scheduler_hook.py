"""Sets the estimators' ``(k, t)`` of every binary layer from training progress."""
from typing import Optional

from mmengine.hooks import Hook, LoggerHook
from mmengine.runner import EpochBasedTrainLoop

from mmbnn.models.layers.binary import binary_layers
from mmbnn.ops import dte_schedule, ede_schedule
from mmbnn.registry import HOOKS


@HOOKS.register_module()
class BinarySchedulerHook(Hook):
    """Drives the EDE/DTE schedule (docs/methods.md 1.2) and logs it.

    Before each training iteration (or epoch, with ``by_epoch=True``) the
    progress ``p`` is the finished fraction of training; ``(k, t, stage)``
    follow ``dte_schedule`` (``schedule='dte'``) or ``ede_schedule``, and are
    written to every binary layer's buffers. Since they are a function of the
    runner's iteration, a resumed run continues with the same values; every
    DDP rank computes the same ones.

    On the iterations the LoggerHook writes a line (every ``log_interval``
    iterations, default the LoggerHook's interval, else 50, and the last of
    an epoch as the LoggerHook logs it) ``k``, ``t`` and, per layer, the
    ``t`` its weights' and activations' estimators use (below the
    schedule's where DTE's bound holds it), the updating ratios (fraction
    of weights/activations whose gradient factor is at least ``delta``) and
    the activation saturation (``|x| > 1``) go to the visualizer backends,
    and their minimum and mean over layers to the log line.
    """
    priority = 'HIGH'

    def __init__(self, schedule: str = 'dte', t_min: float = 0.1,
                 t_max: float = 10.0, boundary: Optional[float] = None,
                 by_epoch: bool = False, log_interval: Optional[int] = None):
        if schedule not in ('dte', 'ede'):
            raise ValueError(f"schedule must be 'dte' or 'ede', got {schedule!r}")
        if log_interval is not None and log_interval < 1:
            raise ValueError(f'log_interval must be >= 1, got {log_interval}')
        self.schedule, self.t_min, self.t_max = schedule, t_min, t_max
        self.boundary, self.by_epoch = boundary, by_epoch
        self.log_interval = log_interval
        self._ignore_last = True  # the LoggerHook's, read before training
        self.values(0.0)  # validate the arguments now, not at iteration 1

    def values(self, p: float):
        """``(k, t, stage)`` at progress ``p``."""
        if self.schedule == 'dte':
            return dte_schedule(p, self.t_min, self.t_max, self.boundary)
        k, t = ede_schedule(p, self.t_min, self.t_max)
        return k, t, 1

    def progress(self, runner) -> float:
        if self.by_epoch:
            return min(runner.epoch / max(runner.max_epochs, 1), 1.0)
        return min(runner.iter / max(runner.max_iters, 1), 1.0)

    def before_train(self, runner) -> None:
        loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
        if self.log_interval is None:
            self.log_interval = loggers[0].interval if loggers else 50
        self._ignore_last = loggers[0].ignore_last if loggers else True
        if not binary_layers(runner.model):
            runner.logger.warning('BinarySchedulerHook: the model has no '
                                  'binary layers; nothing to schedule')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        k, t, stage = self.values(self.progress(runner))
        track = self._logged(runner, batch_idx)
        for _, layer in binary_layers(runner.model):
            layer.k.fill_(k)
            layer.t.fill_(t)
            # Written when it changes only: a layer reads its stage from the
            # device when the buffer changed, so this keeps host syncs to
            # one per stage change.
            if layer.__dict__.get('_scheduled_stage') != stage:
                layer.stage.fill_(stage)
                layer.__dict__['_scheduled_stage'] = stage
            layer.track_stats = track
        hub = runner.message_hub
        hub.update_scalar('train/bnn_k', k)
        hub.update_scalar('train/bnn_t', t)
        hub.update_scalar('train/bnn_stage', stage)

    def _logged(self, runner, batch_idx: int) -> bool:
        """Whether the LoggerHook writes a log line after this iteration, by
        its own rule: every ``log_interval`` iterations of the epoch (of the
        run in an iteration-based loop) and the last of an epoch that it
        logs (``ignore_last``); the statistics in a line are then its
        iteration's, not an earlier one's."""
        interval = self.log_interval or 50
        if self.every_n_inner_iters(batch_idx, interval):
            return True
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return False
        length = len(runner.train_dataloader)
        return self.end_of_epoch(runner.train_dataloader, batch_idx) and (
            not self._ignore_last or length <= interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        per_layer = {}
        for name, layer in binary_layers(runner.model):
            if layer.track_stats:
                per_layer.update({f'bnn/{name}/{key}': value
                                  for key, value in layer.stats.items()})
                layer.track_stats = False
                layer.stats = {}
        if not per_layer:
            return
        # Per layer to the visualizer backends; min and mean in the log line.
        runner.visualizer.add_scalars(per_layer, step=runner.iter + 1)
        for key in ('weight_ratio', 'act_ratio', 'act_saturation', 'weight_t',
                    'act_t'):
            values = [v for k, v in per_layer.items() if k.endswith(key)]
            if values:
                runner.message_hub.update_scalar(f'train/bnn_{key}_min',
                                                 min(values))
                runner.message_hub.update_scalar(f'train/bnn_{key}_mean',
                                                 sum(values) / len(values))
