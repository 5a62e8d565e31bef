"""Converting a trained model to the XNOR-popcount runtime (docs/deploy.md).

``to_xnor(model)`` replaces every fully binary ``BinaryConv2d`` /
``BinaryLinear`` by ``XnorConv2d`` / ``XnorLinear`` under the same module
name, so the model gives the PyTorch model's outputs bit for bit. With
``fuse=True`` the blocks around them (Bi-Real convs, mmcv ConvModules with
BN) also fold BN into the kernel's per-channel affine and add the residual,
clip (Hardtanh) and pack the next layer's sign bits in the same pass: faster,
and equal to PyTorch within float rounding (about 1e-6 relative) of the BN
and the sum. Sequences of such Bi-Real convs (a ResNet stage, a block) then
run in one native call each run of identity shortcuts (``ConvChain``).
"""
import sys
import weakref
from functools import lru_cache

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules import module as _module_hooks

from mmbnn.models.backbones.bireal_resnet import BiRealResNet
from mmbnn.models.layers.binary import BinaryConv2d, BinaryLinear
from mmbnn.models.layers.bireal import (BiRealBasicBlock, BiRealConv,
                                        ShortcutConvModule)
from mmbnn.ops import native
from mmbnn.ops.native import select_isa
from mmbnn.ops.xnor_conv import ChainSequence, ConvChain, nchw_view
from .int8 import Int8Conv2d, Int8Linear
from .xnor_layers import _BITS, XnorConv2d, XnorLinear, _cached_bits

__all__ = ['freeze', 'fuse_xnor_blocks', 'to_xnor']


def _hardtanh_clip(act) -> bool:
    return isinstance(act, nn.Hardtanh) and act.min_val == -1 and \
        act.max_val == 1


class _FusedBiRealConv(BiRealConv):
    """``BiRealConv`` with BN, residual and Hardtanh in the kernel."""

    def forward(self, x):
        if self.norm.training or not isinstance(self.norm, nn.BatchNorm2d):
            return super().forward(x)
        clip = _hardtanh_clip(self.act)
        y = self.conv(x, norm=self.norm, residual=self.shortcut(x), clip=clip,
                      want_bits=True)
        return y if clip else self.act(y)


class _FusedConvModule(ConvModule):
    """mmcv ``ConvModule`` (conv, BN, act) with BN and a Hardtanh in the
    kernel; ``residual`` adds the input (``ShortcutConvModule``)."""
    residual = False

    def forward(self, x, activate=True, norm=True):
        if not (norm and self.with_norm and not self.norm.training
                and self.order == ('conv', 'norm', 'act')
                and isinstance(self.norm, nn.BatchNorm2d)
                and not self.with_explicit_padding):
            return super().forward(x, activate, norm)
        act = self.activate if activate and self.with_activation else None
        clip = _hardtanh_clip(act)
        y = self.conv(x, norm=self.norm,
                      residual=self.shortcut(x) if self.residual else None,
                      clip=clip, want_bits=act is None or clip)
        return y if act is None or clip else act(y)


class _FusedShortcutConvModule(_FusedConvModule, ShortcutConvModule):
    residual = True


_FUSED = {BiRealConv: _FusedBiRealConv, ConvModule: _FusedConvModule,
          ShortcutConvModule: _FusedShortcutConvModule}


class _ChainedSequence:
    """A sequence of fused Bi-Real convs (``nn.Sequential``s of them, nested:
    a ResNet stage of BasicBlocks) run as chains: each conv with a real
    shortcut (a downsample, run as a PyTorch module) starts one, the convs
    with identity shortcuts after it join it, and a chain is one native
    call (``ConvChain``). Exactly what the convs one by one give; they run
    one by one (the plain ``nn.Sequential``) where a module of the
    sequence other than the shortcuts has a hook (it would not fire), a BN
    is in training mode, an activation is not the kernel's clip, or the
    input is not a float32 CPU tensor on a native path.

    The chains are prepared on a first call and kept for the next ones
    with the same input layout, modules, weights and statistics (their
    tensors and versions: a change in place is seen). A frozen sequence
    (``freeze``) skips that check of its modules and tensors after the
    first call for an input layout."""

    def forward(self, x):
        isa = select_isa()
        packed = _cached_bits(x)
        layout = _layout(x, packed, isa)
        plan = _PLANS.get(self)
        if plan is not None and plan[0] == layout and _runs_frozen(self):
            return self._run(plan[2], x, packed)
        convs = None
        state = []
        if x.dtype == torch.float32 and x.device.type == 'cpu' and \
                x.dim() == 4 and isa != 'reference' and not _global_hooks():
            convs = _chainable(self, [], state)
        if not convs:
            # (a frozen plan is not kept past a run that would change it)
            _PLANS.pop(self, None)
            return super().forward(x)
        if plan is not None and plan[0] == layout and plan[1] == state:
            return self._run(plan[2], x, packed)
        chains, x, packed = self._prepare(convs, x, packed, isa)
        _PLANS[self] = (layout, state, chains)
        setattr(x, _BITS, (packed, x._version))
        return x

    @staticmethod
    def _run(chains, x, packed):
        for shortcut, chain in chains:
            x, packed = chain.run(x, packed, None if chain.shortcut
                                  else _residual(shortcut, x))
        setattr(x, _BITS, (packed, x._version))
        return x

    @staticmethod
    def _prepare(convs, x, packed, isa):
        """(shortcut module or None, ``ConvChain``) of each chain, prepared
        while running ``x`` through them (each chain's first call checked),
        and the output and its bits. An int8 downsample shortcut that runs
        natively (``_int8_shortcut``) runs in its chain's call."""
        chains, start = [], 0
        while start < len(convs):
            end = start + 1
            while end < len(convs) and \
                    type(convs[end].shortcut) is nn.Identity:
                end += 1
            first = convs[start]
            shortcut = None if type(first.shortcut) is nn.Identity else \
                first.shortcut
            residual = _residual(shortcut, x)
            calls = [first.conv._conv_call(
                x, packed, *first.conv._affine(first.norm), first.norm,
                residual, True, True, isa)]
            for conv in convs[start + 1:end]:
                calls.append(conv.conv.chained_call(calls[-1].out_shape,
                                                    conv.norm, isa))
            layer = _int8_shortcut(first.shortcut)
            pooled = None if layer is None else layer.pooled_call(x)
            chain = ConvChain(calls, pooled)
            chains.append((shortcut, chain))
            x, packed = chain.run(x, packed, None if pooled else residual)
            start = end
        return chains, x, packed


# Each chained sequence's prepared chains (their input layout, the state
# they were made from, the chains), and each chained backbone's stages in
# one call (the stages' plans, the ``ChainSequence``), kept out of the
# modules: a copy or an unpickled model prepares its own (the chains hold
# the addresses of the tensors they were made for).
_PLANS = weakref.WeakKeyDictionary()


class _ChainedBiRealResNet(BiRealResNet):
    """A ``BiRealResNet`` whose stages all run as chains. Frozen
    (``freeze``), it runs its stages in one native call (``ChainSequence``)
    once each stage has prepared its chains for the input the one before
    gives, where every downsample shortcut runs inside its chain (int8) and
    no stage has a module hook; else stage by stage."""

    def _run_stages(self, x):
        stages = self.stages
        if not _runs_frozen(self) or any(
                _hooked(s) or not s.__dict__.get('_mmbnn_frozen')
                for s in stages):
            return super()._run_stages(x)
        plans = tuple(_PLANS.get(stage) for stage in stages)
        packed = _cached_bits(x)
        layout = _layout(x, packed, select_isa())
        cached = _PLANS.get(self)
        if cached is None or cached[0] != plans or plans[0][0] != layout:
            cached = _stage_sequence(plans, layout)
            if cached is None:
                return super()._run_stages(x)  # (prepares the stages)
            _PLANS[self] = cached
        _, sequence, last = cached
        outs = sequence.run(x, packed, None if sequence.chains[0].shortcut
                            is not None else x)
        result = []
        for i, end in enumerate(last):
            y, bits = outs[end]
            setattr(y, _BITS, (bits, y._version))
            if i in self.out_indices:
                result.append(y)
        return tuple(result)


class _ChainedClassifier:
    """An mmpretrain ``ImageClassifier`` (the class this is mixed into,
    ``_chained_classifier``). Frozen (``freeze``), in eval mode, with no
    global hooks, where its neck is a 2-D ``GlobalAveragePooling`` and its
    head a ``LinearClsHead`` whose fc is an ``Int8Linear``, none of them
    with a module hook: its ``tensor`` and ``predict`` modes run the pool
    and the fc in one native call on the backbone's last output
    (``Int8Linear.pooled``: the pool's sums in ``F.avg_pool2d``'s order,
    within float rounding of the neck's), else as mmpretrain runs them."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        fc = _pooled_fc(self) if mode in ('tensor', 'predict') else None
        if fc is None:
            return super().forward(inputs, data_samples, mode)
        feats = self.backbone(inputs)
        logits = fc.pooled(feats[-1] if isinstance(feats, tuple) else feats)
        if logits is None:  # (not on this input: the rest of mmpretrain's)
            feats = self.neck(feats)
            return self.head(feats) if mode == 'tensor' else \
                self.head.predict(feats, data_samples)
        return logits if mode == 'tensor' else \
            self.head._get_predictions(logits, data_samples)


def _pooled_fc(model):
    """The fc of a ``_ChainedClassifier`` that may run on its backbone's
    pooled output in one call now (see there), else None."""
    if not _runs_frozen(model):
        return None
    kinds = sys.modules['mmpretrain.models']
    neck, head = model._modules.get('neck'), model._modules.get('head')
    if type(neck) is not kinds.GlobalAveragePooling or \
            type(head) is not kinds.LinearClsHead:
        return None
    gap, fc = neck._modules['gap'], head._modules['fc']
    if type(gap) is not nn.AdaptiveAvgPool2d or \
            gap.output_size not in (1, (1, 1)) or type(fc) is not Int8Linear:
        return None
    return None if any(map(_hooked, (neck, gap, head, fc))) else fc


@lru_cache(maxsize=None)
def _chained_classifier(kind):
    """``_ChainedClassifier`` mixed into the classifier class ``kind``,
    made once (mmpretrain is imported only where a model is one of its
    classifiers); found by name as this module's attribute (pickle)."""
    return type(f'_Chained{kind.__name__}', (_ChainedClassifier, kind),
                {'__module__': __name__})


def __getattr__(name):
    if name == '_ChainedImageClassifier':
        from mmpretrain.models import ImageClassifier
        return _chained_classifier(ImageClassifier)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _stage_sequence(plans, layout):
    """(``plans``, the ``ChainSequence`` of all their chains, the index of
    each stage's last chain) where the stages' prepared chains (``plans``)
    follow each other from an input of ``layout`` (``_layout``) on with no
    module call between them (every shortcut an identity or inside its
    chain); else None."""
    chains, last = [], []
    for plan in plans:
        if plan is None or plan[0] != layout:
            return None
        for shortcut, chain in plan[2]:
            if shortcut is not None and chain.shortcut is None:
                return None
            chains.append(chain)
        last.append(len(chains) - 1)
        shape, stride = nchw_view(chains[-1].last.out_shape)
        # (what the stage gives: float32 and its bits, same device, path
        # and threads)
        layout = (torch.Size(shape), stride, torch.float32, layout[3],
                  False, *layout[5:])
    return plans, ChainSequence(chains), tuple(last)


def _layout(x, packed, isa):
    """What a stage's prepared chains are kept for: the input's shape,
    strides, dtype and device, whether its bits come with it, the
    instruction set and the thread count."""
    return (x.shape, x.stride(), x.dtype, x.device, packed is None, isa,
            native.threads())


def _global_hooks():
    return _module_hooks._global_forward_hooks or \
        _module_hooks._global_forward_pre_hooks


def _hooked(module):
    """Whether ``module`` has a forward hook (a native call that skips its
    forward would not fire it)."""
    return module._forward_hooks or module._forward_pre_hooks


def _runs_frozen(module):
    """Whether a frozen module (``freeze``) may skip its checks now: in
    eval mode, with no global forward hook."""
    return module.__dict__.get('_mmbnn_frozen') and not module.training \
        and not _global_hooks()


def _residual(shortcut, x):
    """A chain's first residual: ``x``, or its shortcut module's output,
    float32."""
    residual = x if shortcut is None else shortcut(x)
    return residual if residual.dtype == torch.float32 else residual.float()


def _int8_shortcut(shortcut):
    """The ``Int8Conv2d`` with a pre-pool that is all ``shortcut`` computes
    (itself, or alone in an ``nn.Sequential`` with ``nn.Identity``s: a
    Bi-Real downsample after ``fuse_avg_pools`` and ``fold_batch_norms``),
    with no hooks on any of them; else None."""
    modules = shortcut._modules.values() \
        if type(shortcut) is nn.Sequential else (shortcut,)
    if _hooked(shortcut):
        return None
    layers = []
    for module in modules:
        if _hooked(module):
            return None
        if type(module) is Int8Conv2d and module.pre_pool is not None:
            layers.append(module)
        elif type(module) is not nn.Identity:
            return None
    return layers[0] if len(layers) == 1 else None


def _chainable(sequence, convs, state):
    """The fused Bi-Real convs of ``sequence`` in order, appended to
    ``convs``, or None if the sequence may not run as chains (see
    ``_ChainedSequence``); appended to ``state``: each conv and the
    identity and version of every tensor of it and its BN, the BN's eps,
    and an int8 shortcut's weights and quantization (what prepared chains
    were computed from). One walk, the modules'
    own dicts: Python between two library calls runs with cold caches."""
    for module in sequence._modules.values():
        if _hooked(module):
            return None
        kind = type(module)
        if kind is _FusedBiRealConv:
            parts = module._modules
            conv, norm = parts['conv'], parts['norm']
            if _hooked(conv) or type(conv) is not XnorConv2d or \
                    conv.groups != 1 or type(norm) is not nn.BatchNorm2d or \
                    norm.training or not _hardtanh_clip(parts['act']):
                return None
            convs.append(module)
            shortcut = parts['shortcut']
            layer = type(shortcut) is not nn.Identity and \
                _int8_shortcut(shortcut)
            state += (module, norm.eps, shortcut, layer)
            if layer:  # (its weights: the chain's call holds them)
                state += (id(layer._int8_weights()[0]), layer.in_scale,
                          layer.in_zero_point)
            for owner in (conv._buffers, norm._buffers, norm._parameters):
                for t in owner.values():
                    if t is not None:
                        state += (id(t), t._version)
        elif kind in _CHAINED_KINDS:
            if _chainable(module, convs, state) is None:
                return None
        else:
            return None
    return convs


class _ChainedSequential(_ChainedSequence, nn.Sequential):
    pass


class _ChainedBiRealBasicBlock(_ChainedSequence, BiRealBasicBlock):
    pass


_CHAINED = {nn.Sequential: _ChainedSequential,
            BiRealBasicBlock: _ChainedBiRealBasicBlock}
_CHAINED_KINDS = (*_CHAINED, *_CHAINED.values())


def to_xnor(model: nn.Module, fuse: bool = True) -> nn.Module:
    """Replace, in place, every fully binary conv / linear layer of ``model``
    by its XNOR-popcount twin and put the model in eval mode; with ``fuse``,
    also fold the blocks around them (``fuse_xnor_blocks``) and make its 4-D
    weights channels-last. Returns
    ``model``. Layers that binarize only weights or only activations stay
    PyTorch layers (XNOR needs both binary)."""
    model.eval()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, BinaryConv2d) and child.binarize == 'both':
                setattr(module, child_name, XnorConv2d.from_binary(child))
            elif isinstance(child, BinaryLinear) and child.binarize == 'both':
                setattr(module, child_name, XnorLinear.from_binary(child))
    if fuse:
        fuse_xnor_blocks(model)
        # Channels-last float convs: the fused blocks' layout from the first
        # conv on, whatever the layout of the input.
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.data = module.weight.data.contiguous(
                    memory_format=torch.channels_last)
    return model.eval()


def freeze(model: nn.Module, frozen: bool = True) -> int:
    """Freeze (or, with ``frozen=False``, unfreeze) the chained stages of a
    fused model (``fuse_xnor_blocks``) for inference: after its first call
    for an input layout, a frozen stage runs the native chains it prepared
    then without checking its modules, weights, BN statistics and module
    hooks again (about 50 us a ResNet stage). Changes to them after that
    are not seen until ``freeze(model, False)``, as with
    ``torch.jit.freeze``. Still followed: ``model.train()`` and global
    module hooks (the stage then runs as an unfrozen one would, and
    prepares its chains anew afterwards: a training-mode forward moves the
    BN statistics). A frozen Bi-Real ResNet runs all its stages in one
    native call once they have prepared their chains (where no module call
    sits between them: int8 shortcuts, no hooks on the stages); a frozen
    mmpretrain classifier its global pool and int8 fc (``Int8Linear``) in
    another (``_ChainedClassifier``). Returns the count of stages, blocks,
    backbones and classifiers set."""
    count = 0
    for module in model.modules():
        if isinstance(module, (_ChainedSequence, _ChainedBiRealResNet,
                               _ChainedClassifier)):
            module.__dict__['_mmbnn_frozen'] = bool(frozen)
            count += 1
    return count


def fuse_xnor_blocks(model: nn.Module) -> int:
    """Let the blocks whose conv is an ``XnorConv2d`` (Bi-Real convs, mmcv
    ConvModules) run BN, residual, Hardtanh and the next layer's packing in
    the kernel, sequences of them as chains (``_ChainedSequence``), and
    (frozen, ``freeze``) a Bi-Real ResNet's stages and an mmpretrain
    ``ImageClassifier``'s pool and int8 fc in one call each. Names and
    parameters are unchanged. Returns the count of blocks."""
    count = 0
    for module in model.modules():
        fused = _FUSED.get(type(module))
        if fused is not None and type(getattr(module, 'conv', None)) is \
                XnorConv2d:
            module.__class__ = fused
            count += 1
    for module in model.modules():
        chained = _CHAINED.get(type(module))
        if chained is not None and _bireal_sequence(module):
            module.__class__ = chained
    for module in model.modules():
        if type(module) is BiRealResNet and all(
                isinstance(stage, _ChainedSequence)
                for stage in module.stages):
            module.__class__ = _ChainedBiRealResNet
    kinds = sys.modules.get('mmpretrain.models')
    if kinds is not None and type(model) is kinds.ImageClassifier:
        model.__class__ = _chained_classifier(kinds.ImageClassifier)
    return count


def _bireal_sequence(module) -> bool:
    """Whether ``module`` is a sequence of fused Bi-Real convs and of such
    sequences (a ResNet stage, a BasicBlock)."""
    return bool(module._modules) and all(
        type(m) is _FusedBiRealConv or (
            type(m) in _CHAINED_KINDS and _bireal_sequence(m))
        for m in module._modules.values())
