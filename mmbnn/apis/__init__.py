"""The tools' entry API: loading a config, building the runner or a model,
training in steps."""
from .config import add_common_args, load_config
from .inference import init_model, quiet_logging
from .runner import build_runner, exit_on_user_error
from .train_steps import train_in_steps

__all__ = ['add_common_args', 'build_runner', 'exit_on_user_error',
           'init_model', 'load_config', 'quiet_logging', 'train_in_steps']
