"""mmbnn/ops/bits.py: the two sign-bit layouts, by hand."""
import torch

from mmbnn.ops import native
from mmbnn.ops.bits import pack_bit_words, unpack_bit_words
from mmbnn.ops.xnor_conv import pack_activations


def test_bit_layout_by_hand():
    bits = torch.zeros(2, 65, dtype=torch.bool)
    bits[0, [0, 2]] = True        # word 0 = 0b101
    bits[1, 64] = True            # second word, bit 0
    bits[1, 63] = True            # the top bit of the first word
    words = pack_bit_words(bits)
    assert words.shape == (2, 2)
    assert words[0].tolist() == [5, 0]
    assert words[1].tolist() == [-(1 << 63), 1]
    assert torch.equal(unpack_bit_words(words, 65), bits)
    # Activations: a group's channels start a new word.
    x = torch.full((1, 4, 1, 1), -1.0)
    x[0, 1] = x[0, 2] = 0.5
    for isa in native.available_isas():
        packed = pack_activations(x, groups=2, isa=isa)
        assert packed.flatten().tolist() == [0b10, 0b01], isa


def test_both_layouts_stay_on_their_inputs_device():
    """Packing and unpacking make their index tensors on the input's device
    (a CUDA model's signs are packed where they are): checked on PyTorch's
    ``meta`` device, a second device every machine has, where mixing in a
    CPU tensor raises."""
    from mmbnn.ops.bits import pack_bool_bytes, unpack_bool_bytes
    bits = torch.zeros(3, 70, dtype=torch.bool, device='meta')
    words = pack_bit_words(bits)
    assert (words.device.type, words.shape, words.dtype) == \
        ('meta', (3, 2), torch.int64)
    assert unpack_bit_words(words, 70).device.type == 'meta'
    packed = pack_bool_bytes(bits)
    assert (packed.device.type, packed.shape) == ('meta', (27,))
    assert unpack_bool_bytes(packed, (3, 70)).device.type == 'meta'
