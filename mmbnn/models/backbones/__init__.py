from .bireal_resnet import BiRealResNet
from .ssd_vgg import SSDVGGBN

__all__ = ['BiRealResNet', 'SSDVGGBN']
