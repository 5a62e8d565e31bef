"""mmbnn/engine/hooks/binarize_mode_hook.py: what each mode binarizes."""
import pytest
import torch.nn as nn


def test_a_mode_never_binarizes_what_the_config_keeps_real():
    from mmbnn.models.layers import BinaryConv2d, set_binarize_mode
    layer = BinaryConv2d(2, 2, 1, binarize='weights')
    set_binarize_mode(layer, 'activations')
    assert layer.binarize == 'none'
    set_binarize_mode(layer, 'both')
    assert layer.binarize == 'weights'
    with pytest.raises(ValueError, match='binarize mode'):
        set_binarize_mode(layer, 'half')


def test_binarize_mode_hook_restricts_every_binary_layer_before_the_run():
    from types import SimpleNamespace

    from mmengine.logging import MMLogger

    from mmbnn.engine.hooks import BinarizeModeHook
    from mmbnn.models.layers import BinaryConv2d, BinaryLinear
    model = nn.Sequential(BinaryConv2d(2, 2, 1), nn.Conv2d(2, 2, 1),
                          BinaryLinear(2, 2, binarize='weights'))
    logger = MMLogger.get_instance('binarize_mode_hook', log_level='INFO')
    messages = []
    logger.info = messages.append
    runner = SimpleNamespace(model=model, logger=logger)
    BinarizeModeHook('activations').before_run(runner)
    assert [model[0].binarize, model[2].binarize] == ['activations', 'none']
    assert messages == ["BinarizeModeHook: 2 binary layer(s) binarize "
                        "'activations'"]
    BinarizeModeHook('both').before_run(runner)
    assert [model[0].binarize, model[2].binarize] == ['both', 'weights']
    with pytest.raises(ValueError) as e:
        BinarizeModeHook('half')
    assert e.value.args[0] == ("unknown binarize mode 'half'; choose from "
                               "['both', 'activations', 'weights', 'none']")
