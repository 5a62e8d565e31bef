"""Binary layers and blocks, backbones, distillation losses and what they
share; importing it registers them (``mmbnn.registry``)."""
from .backbones import *  # noqa: F401,F403
from .builder import build_model, full_precision_twin
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .utils import CheckedPretrainedInit  # noqa: F401
