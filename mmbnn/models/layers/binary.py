"""Binary conv and linear layers built from ``mmbnn.ops``, and the walkers
that find them in a model."""
from functools import partial
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbnn.ops import (ESTIMATORS, WEIGHT_BINARIZERS, dte_t_cap,
                       imb_from_standardized, imb_standardize, saturation,
                       updating_ratio)
from mmbnn.registry import MODELS
from mmbnn.utils.dist import unwrap_model

MODES = ('both', 'activations', 'weights', 'none')
_PARTS = dict(both={'weights', 'activations'}, activations={'activations'},
              weights={'weights'}, none=set())
ACTIVATION_BINARIZERS = ('sign', )


def _choice(value, options, what):
    if value not in options:
        raise ValueError(f'unknown {what} {value!r}; choose from {sorted(options)}')
    return value


class BinaryMixin:
    """What ``BinaryConv2d`` and ``BinaryLinear`` share.

    Args:
        binarize (str): ``'both'`` (1-bit weights and activations),
            ``'activations'`` (real weights; AdamBNN's step 1), ``'weights'``
            or ``'none'`` (a full-precision layer, same parameters).
        weight_binarizer (str): ``'imb'`` (DIR-Net), ``'xnor'`` or ``'sign'``.
        activation_binarizer (str): ``'sign'`` (plain sign of the input).
        weight_estimator, activation_estimator (str): ``'dte'``, ``'ede'``,
            ``'ste'`` or ``'approx'``: the backward of each sign.
        max_gain, epsilon, delta (float): DTE's distribution-sensitive bound
            on stage 2's ``t`` (docs/methods.md 1.2): per layer, the
            activations' ``t`` stays where the estimator's gain on the
            layer's inputs is at most ``max_gain`` (``ops.dte_gain_cap``:
            it must not amplify the gradient passed down the network), and
            both estimators' ``t`` where at least ``epsilon`` of the elements
            keep a gradient factor ``>= delta`` (``ops.dte_ratio_cap``).
        weight_max_gain (float, optional): the gain bound for the weights'
            estimator too (their gradient goes to the optimizer, not down
            the network); None: none.
        act_cap_momentum (float): momentum of the running (geometric)
            estimate of the activations' ``t`` cap.

    Buffers ``k``, ``t`` and ``stage`` are set by ``BinarySchedulerHook``
    and saved in checkpoints, so a resumed run continues with the same values;
    ``act_t_cap`` is the running activation cap. ``SCHEDULE_BUFFERS`` names
    them: training state, not learned weights (a full-precision checkpoint
    has none, and inference never reads them). In stage 2 a training
    forward leaves ``cap_binds`` (``{'weights': tensor, 'activations':
    tensor}``, 0-dim bools on the layer's device): whether each bound held
    ``t`` below the schedule's; the diagnostics hook counts them.
    """
    SCHEDULE_BUFFERS = ('k', 't', 'stage', 'act_t_cap')

    def _init_binary(self, binarize, weight_binarizer, activation_binarizer,
                     weight_estimator, activation_estimator, epsilon, delta,
                     act_cap_momentum, max_gain, weight_max_gain,
                     device=None):
        self.binarize = _choice(binarize, MODES, 'binarize mode')
        # What the config asked for; set_binarize_mode narrows it per step.
        self.configured_binarize = self.binarize
        self.weight_binarizer = _choice(weight_binarizer, WEIGHT_BINARIZERS,
                                        'weight_binarizer')
        self.activation_binarizer = _choice(activation_binarizer,
                                            ACTIVATION_BINARIZERS,
                                            'activation_binarizer')
        self.weight_estimator = _choice(weight_estimator, ESTIMATORS,
                                        'weight_estimator')
        self.activation_estimator = _choice(activation_estimator, ESTIMATORS,
                                            'activation_estimator')
        if not (0 < epsilon < 1 and 0 < delta < 1 and 0 <= act_cap_momentum < 1):
            raise ValueError('epsilon and delta must be in (0, 1) and '
                             'act_cap_momentum in [0, 1)')
        for name, gain in (('max_gain', max_gain),
                           ('weight_max_gain', weight_max_gain)):
            if gain is not None and not gain > 0:
                raise ValueError(f'{name} must be > 0 or None, got {gain}')
        self.epsilon, self.delta = epsilon, delta
        self.act_cap_momentum = act_cap_momentum
        self.max_gain, self.weight_max_gain = max_gain, weight_max_gain
        # The schedule's state, on the layer's device (float32 whatever the
        # weights' dtype: the estimators compute in at least float32).
        self.register_buffer('k', torch.ones((), device=device))
        self.register_buffer('t', torch.ones((), device=device))
        self.register_buffer('stage', torch.ones((), dtype=torch.long,
                                                 device=device))
        self.register_buffer('act_t_cap', torch.full((), float('inf'),
                                                     device=device))
        self.track_stats = False
        self.stats = {}
        self.cap_binds = {}

    @property
    def binary_weights(self) -> bool:
        return self.binarize in ('both', 'weights')

    @property
    def binary_activations(self) -> bool:
        return self.binarize in ('both', 'activations')

    def _estimator(self, name, t_cap=None):
        fn = ESTIMATORS[name]
        if name == 'ede':
            return partial(fn, k=self.k, t=self.t)
        if name == 'dte':
            return partial(fn, k=self.k, t=self.t, t_cap=t_cap)
        return fn

    def _stage2(self, name):
        return name == 'dte' and self._stage_value() == 2

    def _stage_value(self) -> int:
        """``int(self.stage)``, read from the device only when the buffer
        changed (a fill by the scheduler hook, a checkpoint load, a move):
        not a host sync on every forward."""
        key = (self.stage.data_ptr(), self.stage._version)
        cached = self.__dict__.get('_stage_cache')
        if cached is None or cached[0] != key:
            cached = self.__dict__['_stage_cache'] = (key, int(self.stage))
        return cached[1]

    def _track(self, part, elements, t_cap):
        """The updating ratio and the effective ``t`` of one part
        (``'weight'`` or ``'act'``), on the iterations the scheduler logs."""
        t = self.t if t_cap is None else torch.minimum(self.t, t_cap)
        self.stats[f'{part}_ratio'] = float(
            updating_ratio(elements, t, self.delta))
        self.stats[f'{part}_t'] = float(t)

    def binarized_weight(self) -> torch.Tensor:
        w = self.weight
        if not self.binary_weights:
            return w
        # What the sign sees (the standardized filter for IMB), computed once:
        # the stage-2 cap and the tracked ratio read it detached.
        seen = imb_standardize(w) if self.weight_binarizer == 'imb' else w
        t_cap = None
        # The cap shapes the backward only: no gradient, no cap.
        if self._stage2(self.weight_estimator) and torch.is_grad_enabled() \
                and w.requires_grad:
            t_cap = dte_t_cap(seen.detach(), self.epsilon, self.delta,
                              self.weight_max_gain)
            if self.training:
                self.cap_binds['weights'] = t_cap < self.t
        if self.track_stats and self.weight_estimator in ('ede', 'dte'):
            self._track('weight', seen.detach(), t_cap)
        estimator = self._estimator(self.weight_estimator, t_cap)
        if self.weight_binarizer == 'imb':
            return imb_from_standardized(seen, estimator)
        return WEIGHT_BINARIZERS[self.weight_binarizer](w, estimator)

    def binarized_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.binary_activations:
            return x
        t_cap = None
        if self._stage2(self.activation_estimator):
            if self.training and torch.is_grad_enabled():
                with torch.no_grad():
                    self._update_act_cap(x)
                self.cap_binds['activations'] = self.act_t_cap < self.t
            t_cap = self.act_t_cap
        if self.track_stats and self.activation_estimator in ('ede', 'dte'):
            self._track('act', x.detach(), t_cap)
            self.stats['act_saturation'] = float(saturation(x))
        return self._estimator(self.activation_estimator, t_cap)(x)

    def _update_act_cap(self, x):
        """The running cap: a geometric mean (momentum ``act_cap_momentum``)
        of the batches' caps, the first batch's cap at the start; on the
        device, no host synchronization."""
        # A smaller subsample for the ratio bound than the weights': the
        # running mean averages its noise over batches (docs/methods.md 1.2).
        cap = dte_t_cap(x, self.epsilon, self.delta, self.max_gain,
                        ratio_samples=1 << 12).to(self.act_t_cap)
        m = self.act_cap_momentum
        mixed = torch.exp(m * torch.log(self.act_t_cap) +
                          (1 - m) * torch.log(cap))
        self.act_t_cap.copy_(torch.where(torch.isinf(self.act_t_cap), cap,
                                         mixed))

    def extra_repr(self):
        return (f'{super().extra_repr()}, binarize={self.binarize}, '
                f'weight={self.weight_binarizer}/{self.weight_estimator}, '
                f'act={self.activation_binarizer}/{self.activation_estimator}')


def set_binarize_mode(model: nn.Module, mode: str) -> int:
    """Restrict every binary layer of ``model`` to ``mode`` (AdamBNN's steps,
    docs/methods.md 3.1): a layer binarizes what its config asked for *and* what
    ``mode`` allows, so ``'activations'`` leaves the weights real and
    ``'both'`` restores the configured layers. Returns the number of layers.
    """
    allowed = _PARTS[_choice(mode, MODES, 'binarize mode')]
    layers = [layer for _, layer in binary_layers(model)]
    for layer in layers:
        parts = _PARTS[layer.configured_binarize] & allowed
        layer.binarize = next(k for k, v in _PARTS.items() if v == parts)
    return len(layers)


def binary_layers(model: nn.Module) -> List[Tuple[str, BinaryMixin]]:
    """``(name, layer)`` of every binary layer of ``model`` (DDP unwrapped)."""
    return [(name, module) for name, module in
            unwrap_model(model).named_modules() if isinstance(module, BinaryMixin)]


def binary_blocks(model: nn.Module) -> List[str]:
    """Names of the modules that directly hold a binary layer (a ConvModule,
    a Bi-Real conv, a ResNet BasicBlock): the blocks RBD taps by default."""
    return [name for name, module in unwrap_model(model).named_modules()
            if name and any(isinstance(child, BinaryMixin)
                            for child in module.children())]


@MODELS.register_module()
class BinaryConv2d(BinaryMixin, nn.Conv2d):
    """``nn.Conv2d`` with binarized weights and/or input (IMB + DTE by default).

    Stride, padding (any ``padding_mode``), dilation, groups and bias are
    those of ``nn.Conv2d``, applied to the binarized tensors. Registered as a
    conv layer type: ``conv_cfg=dict(type='BinaryConv2d', ...)`` in mmcv/mmdet
    modules. Zero padding of a binary input is the usual BNN convention.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias=True,
                 padding_mode='zeros', binarize='both', weight_binarizer='imb',
                 activation_binarizer='sign', weight_estimator='dte',
                 activation_estimator='dte', epsilon=0.1, delta=0.1,
                 act_cap_momentum=0.9, max_gain=1.0, weight_max_gain=None,
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode,
                         device=device, dtype=dtype)
        self._init_binary(binarize, weight_binarizer, activation_binarizer,
                          weight_estimator, activation_estimator, epsilon,
                          delta, act_cap_momentum, max_gain, weight_max_gain,
                          device)

    def forward(self, x):
        return self._conv_forward(self.binarized_input(x),
                                  self.binarized_weight(), self.bias)


@MODELS.register_module()
class BinaryLinear(BinaryMixin, nn.Linear):
    """``nn.Linear`` with binarized weights and/or input (IMB + DTE by default)."""

    def __init__(self, in_features, out_features, bias=True, binarize='both',
                 weight_binarizer='imb', activation_binarizer='sign',
                 weight_estimator='dte', activation_estimator='dte',
                 epsilon=0.1, delta=0.1, act_cap_momentum=0.9, max_gain=1.0,
                 weight_max_gain=None, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device=device,
                         dtype=dtype)
        self._init_binary(binarize, weight_binarizer, activation_binarizer,
                          weight_estimator, activation_estimator, epsilon,
                          delta, act_cap_momentum, max_gain, weight_max_gain,
                          device)

    def forward(self, x):
        return F.linear(self.binarized_input(x), self.binarized_weight(),
                        self.bias)


# Binary blocks use Hardtanh (IR-Net, Bi-Real); mmcv registers no such
# activation, so make it available to act_cfg.
if 'Hardtanh' not in MODELS.module_dict:
    MODELS.register_module('Hardtanh', module=nn.Hardtanh)
