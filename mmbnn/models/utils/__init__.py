"""What the models share: loading weights where they fit, the strict
``Pretrained`` initializer, and the width multiplier."""
from .state_dict import (fit_report, is_schedule_buffer_key,
                         load_fitting_state_dict)
from .weight_init import CheckedPretrainedInit
from .width import scaled_width

__all__ = ['CheckedPretrainedInit', 'fit_report', 'is_schedule_buffer_key',
           'load_fitting_state_dict', 'scaled_width']
