from .ssd_vgg import SSDVGGBN

__all__ = ['SSDVGGBN']
