"""The binarization maths: plain PyTorch, no mm imports."""
from .binarizers import (WEIGHT_BINARIZERS, imb, imb_from_standardized,
                         imb_standardize, power_of_two_scale, sign, xnor)
from .estimators import (ESTIMATORS, approx_sign, binary_sign, dte_sign,
                         ede_sign, ste_sign)
from .schedules import (dte_boundary, dte_schedule, dte_t_cap, ede_schedule,
                        saturation, updating_ratio)

__all__ = [
    'WEIGHT_BINARIZERS', 'imb', 'imb_from_standardized', 'imb_standardize',
    'power_of_two_scale', 'sign', 'xnor', 'ESTIMATORS', 'approx_sign',
    'binary_sign', 'dte_sign', 'ede_sign', 'ste_sign', 'dte_boundary',
    'dte_schedule', 'dte_t_cap', 'ede_schedule', 'saturation',
    'updating_ratio'
]
