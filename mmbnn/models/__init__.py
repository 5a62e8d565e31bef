from .backbones import *  # noqa: F401,F403 (registers the backbones)
from .layers import *  # noqa: F401,F403 (registers the binary layers)
