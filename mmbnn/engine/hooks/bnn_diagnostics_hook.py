"""AdamBNN's training diagnostics as a hook (docs/methods.md 3.2)."""
import json
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook, LoggerHook

from mmbnn.models.layers.binary import binary_layers
from mmbnn.ops import (abs_histogram, count_changed, count_flips, latent_signs,
                       saturation)
from mmbnn.ops.bits import pack_bool_bytes, unpack_bool_bytes
from mmbnn.registry import HOOKS
from mmbnn.utils.checkpoint import read_checkpoint

STATE_KEY = 'bnn_diagnostics'
_PARTS = ('weights', 'activations')


@HOOKS.register_module()
class BNNDiagnosticsHook(Hook):
    """Flip-flop ratio, correlation to initialization, activation saturation
    and latent-weight histograms of every binary layer (AdamBNN, docs/methods.md
    3.2), for the user's own run.

    - **FF** per optimizer step: the share of latent weights whose sign
      changed; counted on the device every iteration and brought to the host
      once per ``interval`` (its mean over the interval goes to the log line
      as ``bnn_ff_ratio``, every value to the visualizer backends), with its
      mean per epoch and over the run.
    - **C2I** ``= 1 - p``, ``p`` the share of latent signs that differ from
      those at the start of this run, per layer and over all layers, each
      epoch. With ``reference_checkpoint`` (set by two-step training for step
      2) also against the first step's initialization (``c2i_first_step``).
    - **Saturation**: the share of pre-sign activations with ``|x| > 1``,
      per layer, sampled on the iterations that flush.
    - **Histograms** of ``|w|`` per layer at the end of training.
    - **DTE's bound**: per layer, the share of stage-2 iterations in which
      its distribution-sensitive bound held ``t`` below the schedule's, for
      the weights and the activations (``dte_bind_ratio``), counted on the
      device every iteration; the mean over layers to the log each epoch.

    At the end of training ``bnn_diagnostics.json`` (keys ``ff_ratio_mean``
    and ``c2i`` over all binary layers, then per epoch, per iteration and per
    layer detail) and the figures ``bnn_ff_ratio.png``, ``bnn_c2i.png`` and
    ``bnn_latent_weights.png`` are written to the run's log directory. The
    state (initial signs, FF history) is saved in checkpoints, so a resumed
    run reports as if it had never stopped.

    Args:
        interval (int, optional): Iterations between flushes; default the
            LoggerHook's interval.
        hist_bins (int): Bins of the latent-weight histograms.
        reference_checkpoint (str, optional): A checkpoint written with this
            hook whose initial signs are the second C2I reference.
        plots (bool): Write the PNG figures.
    """
    priority = 'NORMAL'

    def __init__(self, interval: Optional[int] = None, hist_bins: int = 60,
                 reference_checkpoint: Optional[str] = None, plots: bool = True):
        if interval is not None and interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if hist_bins < 2:
            raise ValueError(f'hist_bins must be >= 2, got {hist_bins}')
        self.interval, self.hist_bins = interval, hist_bins
        self.reference_checkpoint = reference_checkpoint
        self.plots = plots
        self._restored = None
        self._handles = []

    # -------------------------------------------------------------- set-up
    def before_train(self, runner) -> None:
        found = binary_layers(runner.model)
        if not found:
            raise RuntimeError('BNNDiagnosticsHook: the model has no binary '
                               'layers to diagnose')
        self._names = [name for name, _ in found]
        layers = [layer for _, layer in found]
        self._layers = layers
        self._weights = [layer.weight for layer in layers]
        self._numel = sum(w.numel() for w in self._weights)
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 50
        signs = latent_signs(self._weights)
        # mmengine also calls after_load_checkpoint for load_from; only a
        # resumed run (already past iteration 0) continues the saved state.
        if runner.iter == 0:
            self._restored = None
        elif self._restored is None:
            runner.logger.warning(
                'BNNDiagnosticsHook: the resumed checkpoint holds no '
                'diagnostics; FF and C2I count from the resumed weights')
        if self._restored is None:
            self._init = signs
            self.ff_iters: List[float] = []
            self.ff_epochs: List[float] = []
            self._layer_flips = torch.zeros(len(signs), dtype=torch.long,
                                            device=self._weights[0].device)
            self._sat_sum = [0.0] * len(signs)
            self._sat_count = [0] * len(signs)
            self._bind_counts = torch.zeros(len(signs), 2, dtype=torch.long,
                                            device=self._weights[0].device)
            self._bind_iters = [[0, 0] for _ in signs]
        else:
            self._load_state(self._restored)
        self._reference = self._reference_signs()
        self._prev = signs
        self._pending: List[torch.Tensor] = []
        self._epoch_start = len(self.ff_iters)
        self._sampling = False
        self._sampled: Dict[int, torch.Tensor] = {}
        for i, layer in enumerate(layers):
            if layer.binary_activations:
                self._handles.append(layer.register_forward_pre_hook(
                    self._saturation_probe(i)))

    def _reference_signs(self):
        if not self.reference_checkpoint:
            return None
        state = read_checkpoint(self.reference_checkpoint,
                                map_location='cpu').get(STATE_KEY)
        if state is None:
            raise KeyError(f'{self.reference_checkpoint} holds no '
                           f'{STATE_KEY!r} state: train that run with '
                           'BNNDiagnosticsHook to compare against its start')
        self._check_names(state, self.reference_checkpoint)
        return [unpack_bool_bytes(p, w.shape).to(w.device)
                for p, w in zip(state['init'], self._weights)]

    def _check_names(self, state, source):
        if list(state['names']) != list(self._names):
            raise ValueError(
                f'the binary layers in {source} ({len(state["names"])}) are not '
                f"this model's ({len(self._names)}); first differences: "
                f'{sorted(set(state["names"]) ^ set(self._names))[:5]}')

    def _saturation_probe(self, index):
        def probe(module, args):
            # Training forwards only: the flag stays up until the next
            # iteration, and a validation run may come in between.
            if module.training and self._sampling:
                self._sampled[index] = saturation(args[0])
        return probe

    # ----------------------------------------------------------- the loop
    def before_train_iter(self, runner, batch_idx: int, data_batch=None):
        self._sampling = self.every_n_train_iters(runner, self.interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        signs = latent_signs(self._weights)
        flips = count_flips(self._prev, signs)
        self._prev = signs
        self._layer_flips += flips
        self._pending.append(flips.sum())
        for i, layer in enumerate(self._layers):
            for j, part in enumerate(_PARTS):
                binds = layer.cap_binds.pop(part, None)
                if binds is not None:
                    self._bind_counts[i, j] += binds
                    self._bind_iters[i][j] += 1
        if self._sampling or self.end_of_epoch(runner.train_dataloader,
                                               batch_idx):
            self._flush(runner)

    def _flush(self, runner) -> None:
        if self._pending:
            first = len(self.ff_iters)
            values = (torch.stack(self._pending).double() / self._numel).tolist()
            self._pending = []
            self.ff_iters.extend(values)
            runner.message_hub.update_scalar('train/bnn_ff_ratio',
                                             sum(values) / len(values))
            for i, value in enumerate(values):
                runner.visualizer.add_scalars({'bnn/ff_ratio': value},
                                              step=first + i + 1)
        if self._sampled:
            per_layer = {}
            for i, value in self._sampled.items():
                value = float(value)
                self._sat_sum[i] += value
                self._sat_count[i] += 1
                per_layer[f'bnn/{self._names[i]}/act_saturation'] = value
            self._sampled = {}
            runner.visualizer.add_scalars(per_layer, step=runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        self._flush(runner)
        epoch = self.ff_iters[self._epoch_start:]
        self._epoch_start = len(self.ff_iters)
        if epoch:
            self.ff_epochs.append(sum(epoch) / len(epoch))
        c2i, p, _ = self._c2i(self._init)
        runner.message_hub.update_scalar('train/bnn_c2i', c2i)
        binds = self._bind_ratios()[0]
        if binds is not None:
            runner.message_hub.update_scalar('train/bnn_dte_bind_ratio', binds)
        # runner.epoch counts finished epochs from 0 until this hook returns;
        # the log and the visualizer name epochs from 1, as mmengine does.
        runner.visualizer.add_scalars(
            {'bnn/c2i': c2i, 'bnn/c2i_p': p,
             'bnn/ff_ratio_epoch': self.ff_epochs[-1] if epoch else 0.0},
            step=runner.epoch + 1)
        runner.logger.info(
            f'BNN diagnostics, epoch {runner.epoch + 1}: FF mean '
            f'{self.ff_epochs[-1] if epoch else 0.0:.3e}, C2I {c2i:.4f} '
            f'(p {p:.4f})')

    def _bind_ratios(self):
        """The share of stage-2 iterations in which DTE's bound held, over
        all layers and parts (None if none ran stage 2), and per layer and
        part (None where that part never ran stage 2)."""
        counts = self._bind_counts.cpu().tolist()
        per_layer = [{part: (c / n if n else None) for part, c, n in
                      zip(_PARTS, layer_counts, layer_iters)}
                     for layer_counts, layer_iters in zip(counts,
                                                          self._bind_iters)]
        total = sum(n for layer in self._bind_iters for n in layer)
        overall = sum(map(sum, counts)) / total if total else None
        return overall, per_layer

    def _c2i(self, reference):
        """``(C2I, p)`` over all layers and C2I per layer against ``reference``."""
        changed = count_changed(reference, self._weights).cpu().tolist()
        p = sum(changed) / self._numel
        return 1 - p, p, [1 - c / w.numel() for c, w in zip(changed,
                                                             self._weights)]

    # ------------------------------------------------------ the end, resume
    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._flush(runner)
        summary = self.summary()
        if not is_main_process():
            return
        path = osp.join(runner.log_dir, 'bnn_diagnostics.json')
        with open(path, 'w') as f:
            json.dump(summary, f, indent=1)
        runner.logger.info(
            f'BNN diagnostics: FF mean {summary["ff_ratio_mean"]:.3e}, C2I '
            f'{summary["c2i"]:.4f} (p {summary["c2i_p"]:.4f}) -> {path}')
        if self.plots:
            from mmbnn.analysis.plots import plot_diagnostics
            for name, image in plot_diagnostics(summary, runner.log_dir).items():
                runner.visualizer.add_image(name, image, step=runner.iter)

    def summary(self) -> dict:
        """Everything the JSON file holds (after ``before_train``)."""
        c2i, p, c2i_layers = self._c2i(self._init)
        flips = self._layer_flips.cpu().tolist()
        iters = max(len(self.ff_iters), 1)
        bind_ratio, bind_layers = self._bind_ratios()
        layers = {}
        for i, (name, w) in enumerate(zip(self._names, self._weights)):
            edges, counts = abs_histogram(w, self.hist_bins)
            layers[name] = dict(
                numel=w.numel(), ff_ratio_mean=flips[i] / (w.numel() * iters),
                c2i=c2i_layers[i],
                act_saturation=(self._sat_sum[i] / self._sat_count[i]
                                if self._sat_count[i] else None),
                dte_bind_ratio=bind_layers[i],
                abs_latent_histogram=dict(edges=edges, counts=counts))
        out = dict(ff_ratio_mean=float(np.mean(self.ff_iters)) if self.ff_iters
                   else 0.0,
                   c2i=c2i, c2i_p=p, num_latent_weights=self._numel,
                   iterations=len(self.ff_iters),
                   ff_ratio_per_epoch=self.ff_epochs,
                   ff_ratio_per_iter=self.ff_iters,
                   dte_bind_ratio=bind_ratio, layers=layers)
        if self._reference is not None:
            ref_c2i, ref_p, ref_layers = self._c2i(self._reference)
            out.update(c2i_first_step=ref_c2i, c2i_first_step_p=ref_p)
            for name, value in zip(self._names, ref_layers):
                layers[name]['c2i_first_step'] = value
        return out

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._flush(runner)
        checkpoint[STATE_KEY] = dict(
            names=list(self._names),
            init=[pack_bool_bytes(s).cpu() for s in self._init],
            ff_iters=torch.tensor(self.ff_iters, dtype=torch.float64),
            ff_epochs=torch.tensor(self.ff_epochs, dtype=torch.float64),
            layer_flips=self._layer_flips.cpu(),
            sat_sum=torch.tensor(self._sat_sum, dtype=torch.float64),
            bind_counts=self._bind_counts.cpu(),
            bind_iters=torch.tensor(self._bind_iters, dtype=torch.long),
            sat_count=torch.tensor(self._sat_count, dtype=torch.long))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Called before before_train (on resume and for load_from).
        self._restored = checkpoint.get(STATE_KEY)

    def _load_state(self, state) -> None:
        self._check_names(state, 'the resumed checkpoint')
        device = self._weights[0].device
        self._init = [unpack_bool_bytes(p, w.shape).to(device)
                      for p, w in zip(state['init'], self._weights)]
        self.ff_iters = state['ff_iters'].tolist()
        self.ff_epochs = state['ff_epochs'].tolist()
        self._layer_flips = state['layer_flips'].to(device)
        self._sat_sum = state['sat_sum'].tolist()
        self._sat_count = state['sat_count'].tolist()
        # Checkpoints written before the bound was counted have no counts.
        zeros = torch.zeros(len(self._names), 2, dtype=torch.long)
        self._bind_counts = state.get('bind_counts', zeros).to(device)
        self._bind_iters = state.get('bind_iters', zeros).tolist()
        self._restored = None
