"""The binarization maths: plain PyTorch and the project's native library,
nothing from mm and nothing from mmbnn above it (docs/package_map.md)."""
from .binarizers import (WEIGHT_BINARIZERS, imb, imb_from_standardized,
                         imb_standardize, power_of_two_scale, sign, xnor)
from .estimators import (ESTIMATORS, approx_sign, binary_sign, dte_sign,
                         ede_sign, ste_sign)
from .metrics import (abs_histogram, count_changed, count_flips, latent_signs,
                      saturation, updating_ratio)
from .schedules import (T_CAP_LIMIT, dte_boundary, dte_gain, dte_gain_cap,
                        dte_ratio_cap, dte_schedule, dte_t_cap, ede_schedule)

__all__ = [
    'WEIGHT_BINARIZERS', 'imb', 'imb_from_standardized', 'imb_standardize',
    'power_of_two_scale', 'sign', 'xnor', 'ESTIMATORS', 'approx_sign',
    'binary_sign', 'dte_sign', 'ede_sign', 'ste_sign', 'dte_boundary',
    'dte_schedule', 'dte_t_cap', 'dte_gain', 'dte_gain_cap', 'dte_ratio_cap',
    'T_CAP_LIMIT', 'ede_schedule', 'abs_histogram',
    'count_changed', 'count_flips', 'latent_signs', 'saturation',
    'updating_ratio'
]
