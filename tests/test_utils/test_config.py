"""mmbnn/utils/config.py (through apis.load_config): bad config keys and
paths are named."""
import pytest
from mmengine.config import Config

from conftest import DEMO_CONFIG
from mmbnn.apis import load_config


def test_misspelt_top_level_key_is_refused():
    with pytest.raises(KeyError, match="'trian_cfg'.*did you mean 'train_cfg'"):
        load_config(DEMO_CONFIG, {'trian_cfg': dict(max_epochs=1)})
    # Free helper names that are not near a Runner key stay allowed.
    cfg = load_config(DEMO_CONFIG, {'my_input_size': 300})
    assert cfg.my_input_size == 300


def test_unknown_nested_key_is_named():
    from mmdet.registry import MODELS
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.widen_factr = 0.5
    with pytest.raises(TypeError, match='widen_factr'):
        MODELS.build(cfg.model)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))


def test_persistent_workers_dropped_without_workers():
    cfg = load_config(DEMO_CONFIG, {'train_dataloader.num_workers': 0})
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
