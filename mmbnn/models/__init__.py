from .backbones import *  # noqa: F401,F403 (registers the backbones)
from .layers import *  # noqa: F401,F403 (registers the binary layers)
from .pretrained import CheckedPretrainedInit  # noqa: F401
from .losses import *  # noqa: F401,F403
