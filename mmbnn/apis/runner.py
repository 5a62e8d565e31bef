"""Building the tools' runner, and ending a tool on a user's mistake with one
line instead of a traceback."""
import sys

from mmengine.config import Config

from mmbnn.engine.runner import CheckedRunner
from mmbnn.registry import RUNNERS
from mmbnn.utils.checkpoint import CheckpointError
from mmbnn.utils.dist import close_distributed

__all__ = ['build_runner', 'exit_on_user_error']


def build_runner(cfg: Config):
    """The config's ``runner_type``, or mmbnn's ``CheckedRunner`` (mmengine's
    Runner that refuses checkpoints which do not fit the model)."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else \
        CheckedRunner.from_cfg(cfg)


def exit_on_user_error(main):
    """Run a tool's ``main``; a bad checkpoint or config path ends it with one
    line on stderr (exit status 1) instead of a traceback. A distributed run's
    process group is closed before the tool returns (see
    ``mmbnn.utils.dist.close_distributed``)."""
    try:
        result = main()
    except (CheckpointError, FileNotFoundError) as err:
        close_distributed(barrier=False)
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(1) from None
    except BaseException:
        close_distributed(barrier=False)
        raise
    close_distributed()
    return result
