from .hooks import *  # noqa: F401,F403
from .optimizers import ConvDecayOptimWrapperConstructor  # noqa: F401
from .runner import CheckedRunner  # noqa: F401
