"""AdamBNN's weight-decay scheme as an optimizer-wrapper constructor."""
from typing import Optional, Sequence

from mmengine.optim import DefaultOptimWrapperConstructor

from mmbnn.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ConvDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's constructor with weight decay on conv kernels only.

    AdamBNN (docs/methods.md 3.1) decays only parameters with ``ndim == 4``: the
    convs' latent weights. BN affine parameters, RSign/RPReLU shifts and
    slopes, biases and the classifier's FC get none. The decay is the
    optimizer's own ``weight_decay`` (coupled L2 for ``Adam``, not AdamW).
    mmengine's other ``paramwise_cfg`` options apply first; this then zeroes
    the decay of every parameter whose ``ndim`` is not in ``decay_ndims``.

    Set ``optim_wrapper=dict(constructor='ConvDecayOptimWrapperConstructor',
    optimizer=dict(type='Adam', weight_decay=5e-6, ...))``; change the
    dimensions with ``paramwise_cfg=dict(decay_ndims=(4, ))``.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        decay_ndims: Sequence[int] = paramwise_cfg.pop('decay_ndims', (4, ))
        self.decay_ndims = tuple(decay_ndims)
        # A non-empty paramwise_cfg makes mmengine give each parameter its
        # own group, which is what lets the decay differ per parameter.
        paramwise_cfg.setdefault('custom_keys', {})
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model):
        wrapper = super().__call__(model)
        for group in wrapper.optimizer.param_groups:
            if any(p.ndim not in self.decay_ndims for p in group['params']):
                group['weight_decay'] = 0.0
        return wrapper
